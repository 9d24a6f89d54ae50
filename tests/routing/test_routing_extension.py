"""An extension's call: forwarding rules, do-not-disturb, simultaneous ring, rows, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from centralita.config.dialplan import DialPlan, ToExtension
from centralita.routing import extension
from centralita.routing.context import DialStatus, DialTarget
from centralita.routing.flow import route
from tests.routing.fakes import FakeCall, FakeEnv, FakeFeatures, Leg, acme_plan, dial_plan

COMPANY = "+34910000000"
MOBILE = "+34600111222"


def plan_with(*extensions: dict[str, Any]) -> DialPlan:
    """Extensions 101-103 (plain unless given), the company number and a shared box."""
    given = {ext["number"] for ext in extensions}
    extensions += tuple({"number": n} for n in ("101", "102", "103") if n not in given)
    numbers = [{"number": COMPANY, "destination": {"extension": "101"}}]
    boxes = [{"name": "general"}]
    return dial_plan(extensions=list(extensions), numbers=numbers, voicemail_boxes=boxes)


async def reach(
    number: str, env: FakeEnv, call: FakeCall | None = None
) -> tuple[FakeCall, FakeFeatures]:
    call = call or FakeCall()
    features = FakeFeatures()
    await route(call, env, ToExtension(extension=number), features=features.features())
    return call, features


# ---------------------------------------------------------------- ringing


async def test_phones_ring_with_the_mobile_for_the_no_answer_delay_showing_the_company() -> None:
    env = FakeEnv(acme_plan())
    call = FakeCall().script_dial("101", DialStatus.ANSWERED)
    await reach("101", env, call)
    dial = call.dials[0]
    assert dial.targets == (DialTarget("101"), DialTarget(MOBILE, label="101"))
    assert dial.timeout == 20
    assert dial.caller_id == COMPANY
    assert call.rows == {"101": ("answered_in", "101")}
    assert call.hung_up and len(call.dials) == 1


async def test_the_mobile_answering_is_the_extensions_answered_call() -> None:
    call = FakeCall().script_dial(MOBILE, Leg(DialStatus.ANSWERED, 42.0))
    await reach("101", FakeEnv(acme_plan()), call)
    assert call.rows == {"101": ("answered_in", MOBILE)}
    assert "extension 101: answered by +34600111222" in call.steps()


async def test_without_no_answer_rule_phones_ring_the_default_time_then_missed_and_480() -> None:
    env = FakeEnv(acme_plan())
    call, _ = await reach("102", env)
    assert call.dialled() == [["102"]]
    assert call.dials[0].timeout == extension.DEFAULT_RING_SECONDS == 60
    assert call.rows == {"102": ("missed", None)}
    assert call.rejected == 480


# ---------------------------------------------------------------- conditional forwarding


async def test_no_answer_forwards_to_the_mobile_with_the_company_number() -> None:
    call = FakeCall().script_dial(MOBILE, DialStatus.NO_ANSWER, DialStatus.ANSWERED)
    await reach("101", FakeEnv(acme_plan()), call)
    assert call.dialled() == [["101", MOBILE], [MOBILE]]
    assert call.dials[1].caller_id == COMPANY
    assert call.rows == {"101": ("answered_in", MOBILE)}
    assert call.steps()[1:3] == [
        "extension 101: no answer in 20 s",
        "extension 101: no-answer forwarding → number +34600111222",
    ]


async def test_no_answer_forward_not_answered_there_is_forwarded_unanswered() -> None:
    call, _ = await reach("101", FakeEnv(acme_plan()))
    assert call.dialled() == [["101", MOBILE], [MOBILE]]
    assert call.statuses() == {"101": "forwarded_unanswered"}
    assert call.rejected == 480  # the forward target did not answer either


async def test_busy_phone_takes_busy_forwarding_to_the_users_voicemail() -> None:
    call = FakeCall().script_dial("101", DialStatus.BUSY)
    call, features = await reach("101", FakeEnv(acme_plan()), call)
    assert features.visits == [("voicemail", "101")]
    assert call.statuses() == {"101": "forwarded_unanswered"}


async def test_a_user_already_in_a_call_is_busy_without_ringing() -> None:
    call, features = await reach("101", FakeEnv(acme_plan(), busy={"101"}))
    assert call.dials == []
    assert features.visits == [("voicemail", "101")]
    assert "extension 101: in a call: the busy path" in call.steps()


async def test_unregistered_extension_forwards_to_the_unreachable_target() -> None:
    env = FakeEnv(acme_plan(), registered={"102"})
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)
    await reach("101", env, call)
    assert call.dialled() == [["102"]]  # 101's phones are not rung at all
    assert call.rows == {"101": ("answered_in", "102"), "102": ("answered_in", "102")}


async def test_no_network_response_takes_the_unreachable_path_too() -> None:
    call = FakeCall().script_dial("101", DialStatus.UNREACHABLE)
    call.script_dial(MOBILE, DialStatus.UNREACHABLE)
    await reach("101", FakeEnv(acme_plan()), call)
    assert call.dialled() == [["101", MOBILE], ["102"]]
    assert call.rows["101"] == ("forwarded_unanswered", None)
    assert call.rows["102"] == ("missed", None)


async def test_busy_without_forwarding_is_missed_and_486() -> None:
    call = FakeCall().script_dial("102", DialStatus.BUSY)
    await reach("102", FakeEnv(acme_plan()), call)
    assert call.rows == {"102": ("missed", None)}
    assert call.rejected == 486


async def test_unreachable_without_forwarding_is_missed_and_480() -> None:
    call, _ = await reach("102", FakeEnv(acme_plan(), registered=set()))
    assert call.dials == []
    assert call.rows == {"102": ("missed", None)}
    assert call.rejected == 480


async def test_declined_call_is_rejected_and_603_without_busy_forwarding() -> None:
    call = FakeCall().script_dial("102", DialStatus.REJECTED)
    await reach("102", FakeEnv(acme_plan()), call)
    assert call.rows == {"102": ("rejected", None)}
    assert call.rejected == 603


async def test_declined_call_takes_busy_forwarding_and_stays_rejected() -> None:
    call = FakeCall().script_dial("101", DialStatus.REJECTED)
    call.script_dial(MOBILE, DialStatus.REJECTED)
    call, features = await reach("101", FakeEnv(acme_plan()), call)
    assert features.visits == [("voicemail", "101")]
    assert call.statuses() == {"101": "rejected"}


async def test_an_answered_caller_hears_busy_instead_of_a_486() -> None:
    call = FakeCall(answered=True).script_dial("102", DialStatus.BUSY)
    await reach("102", FakeEnv(acme_plan()), call)
    assert call.rejected is None
    assert call.plays == ["user_busy"]
    assert call.hung_up


# ---------------------------------------------------------------- do not disturb


async def test_dnd_is_logged_dnd_and_takes_busy_forwarding() -> None:
    call, features = await reach("101", FakeEnv(acme_plan(), dnd={"101"}))
    assert call.dials == []
    assert features.visits == [("voicemail", "101")]
    assert call.statuses() == {"101": "dnd"}


async def test_dnd_without_busy_forwarding_gives_the_caller_busy() -> None:
    call, _ = await reach("102", FakeEnv(acme_plan(), dnd={"102"}))
    assert call.dials == []
    assert call.rows == {"102": ("dnd", None)}
    assert call.rejected == 486


async def test_dnd_forwarded_and_answered_there_stays_dnd_with_who_answered() -> None:
    plan = plan_with({"number": "101", "forwarding": {"busy": {"extension": "102"}}})
    env = FakeEnv(plan, provisioned={"101", "102"}, dnd={"101"})
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)
    await reach("101", env, call)
    assert call.rows["101"] == ("dnd", "102")  # the call never reached 101


# ---------------------------------------------------------------- unconditional forwarding


async def test_configured_unconditional_forwarding_skips_the_phones() -> None:
    plan = plan_with({"number": "101", "forwarding": {"unconditional": {"voicemail": "general"}}})
    call, features = await reach("101", FakeEnv(plan))
    assert call.dials == []
    assert features.visits == [("voicemail", "general")]
    assert call.statuses() == {"101": "forwarded_unanswered"}
    assert call.steps()[0] == "extension 101: unconditional forwarding → voicemail general"


async def test_forward_set_from_the_phone_wins_and_dials_out_with_the_company_number() -> None:
    plan = plan_with({"number": "101", "forwarding": {"unconditional": {"voicemail": "general"}}})
    env = FakeEnv(plan, overrides={"101": MOBILE})
    call = FakeCall().script_dial(MOBILE, DialStatus.ANSWERED)
    _, features = await reach("101", env, call)
    assert features.visits == []
    assert call.dialled() == [[MOBILE]]
    assert call.dials[0].caller_id == COMPANY
    assert call.rows == {"101": ("answered_in", MOBILE)}
    assert call.steps()[0] == (
        "extension 101: unconditional forwarding set from the phone → number +34600111222"
    )


async def test_a_forward_override_that_is_no_number_is_ignored() -> None:
    env = FakeEnv(acme_plan(), overrides={"102": "nonsense"})
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)
    await reach("102", env, call)
    assert call.dialled() == [["102"]]
    assert "ignored" in call.steps()[0]


async def test_a_forwarding_chain_reports_the_final_answerer_on_every_row() -> None:
    env = FakeEnv(plan_with(), provisioned={"101", "102", "103"})
    env.overrides.update({"101": "102", "102": "103"})
    call = FakeCall().script_dial("103", DialStatus.ANSWERED)
    await reach("101", env, call)
    assert call.dialled() == [["103"]]
    assert call.rows == {
        "101": ("answered_in", "103"),
        "102": ("answered_in", "103"),
        "103": ("answered_in", "103"),
    }


async def test_forwarding_round_in_a_circle_is_cut_as_a_loop() -> None:
    env = FakeEnv(plan_with(), provisioned={"101", "102"}, overrides={"101": "102", "102": "101"})
    call, _ = await reach("101", env)
    assert call.dials == []
    assert call.steps()[-2:] == [
        "extension 101: reached again without the caller's input: a loop → hang up",
        "hang up",
    ]
    assert call.statuses() == {"101": "forwarded_unanswered", "102": "forwarded_unanswered"}
    assert call.hung_up


async def test_busy_forwarding_between_two_busy_users_is_a_loop() -> None:
    plan = plan_with(
        {"number": "101", "forwarding": {"busy": {"extension": "102"}}},
        {"number": "102", "forwarding": {"busy": {"extension": "101"}}},
    )
    call, _ = await reach("101", FakeEnv(plan, busy={"101", "102"}))
    assert call.dials == []
    assert "a loop" in call.steps()[-2]


# ---------------------------------------------------------------- edges


async def test_an_extension_removed_since_the_plan_is_not_found() -> None:
    call, _ = await reach("102", FakeEnv(acme_plan(), provisioned={"101"}))
    assert call.steps() == ["extension 102: not found (404)"]
    assert call.rejected == 404
    assert call.rows == {}


async def test_run_alone_records_the_answer_in_the_given_record() -> None:
    answered = extension.Answered()
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)

    async def goto(destination: object) -> None:
        raise AssertionError("no forwarding expected")

    await extension.run(call, FakeEnv(acme_plan()), "102", goto, answered=answered)
    assert answered.by == "102"


@pytest.mark.parametrize("target", ["102", "+34600111222"])
def test_forward_destination_reads_phone_set_targets(target: str) -> None:
    destination = extension.forward_destination(target)
    assert destination is not None and destination.target == target
    assert extension.forward_destination("12ab") is None
