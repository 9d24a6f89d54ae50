"""The walk through the dial plan: entries, schedules at injected instants, terminal
destinations, not-found, loops and bounds, and the IVR's goto."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from centralita.config.dialplan import (
    DialPlan,
    ToConference,
    ToExtension,
    ToHangup,
    ToIvr,
    ToMessage,
    ToNumber,
    ToRingGroup,
    ToSchedule,
    ToVoicemail,
)
from centralita.media.prompts import PROMPTS
from centralita.routing import extension, flow
from centralita.routing.context import CallerHungUp, DialStatus
from centralita.routing.flow import NotFoundError, route, route_internal, route_number
from centralita.routing.resolve import resolve
from tests.routing.fakes import HANGS_UP, FakeCall, FakeEnv, FakeFeatures, acme_plan, dial_plan

MADRID = ZoneInfo("Europe/Madrid")
COMPANY = "+34910000000"
MOBILE = "+34600111222"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MADRID)


async def call_number(
    when: str, plan: DialPlan | None = None, call: FakeCall | None = None
) -> tuple[FakeCall, FakeFeatures]:
    plan = plan or acme_plan()
    call = call or FakeCall()
    features = FakeFeatures()
    number = plan.virtual_number(COMPANY)
    assert number is not None
    await route_number(call, FakeEnv(plan, now=at(when)), number, features=features.features())
    return call, features


async def walk(
    destination: Any, env: FakeEnv, call: FakeCall | None = None, **choices: Any
) -> tuple[FakeCall, FakeFeatures]:
    call = call or FakeCall()
    features = FakeFeatures(choices)
    await route(call, env, destination, features=features.features())
    return call, features


# ---------------------------------------------------------------- schedules


async def test_in_hours_the_schedule_sends_the_call_to_the_menu() -> None:
    call, features = await call_number("2026-12-22 10:30")
    assert features.visits[0] == ("ivr", "main")
    assert call.steps()[:2] == [
        "number +34910000000 → schedule office",
        "schedule office: open: mon-fri 09:00-18:00 → ivr main",
    ]
    assert call.notes[1]["open"] is True


async def test_christmas_is_a_public_holiday_and_goes_to_voicemail() -> None:
    call, features = await call_number("2026-12-25 10:30")
    assert features.visits == [("voicemail", "general")]
    assert call.steps()[1] == (
        "schedule office: closed: public holiday Natividad del Señor (ES-MD) → voicemail general"
    )


async def test_the_tenants_closed_date_and_the_evening_are_closed() -> None:
    call, features = await call_number("2026-12-24 10:30")
    assert "closed date" in call.steps()[1]
    assert features.visits == [("voicemail", "general")]
    call, _ = await call_number("2026-12-22 18:00")
    assert call.steps()[1] == "schedule office: closed: outside hours → voicemail general"


@pytest.mark.parametrize("when", ["2026-12-22 10:30", "2026-12-25 22:00", "2026-12-26 12:00"])
async def test_the_runtime_takes_the_path_resolve_describes(when: str) -> None:
    plan = acme_plan()
    call, _ = await call_number(when, plan)
    dry = resolve(plan, dialled=COMPANY, caller="+34600999888", at=at(when), extension_exists=bool)
    assert call.steps()[:2] == [str(step) for step in dry[:2]]


# ---------------------------------------------------------------- virtual numbers


async def test_a_welcome_prompt_answers_and_plays_before_the_destination() -> None:
    plan = dial_plan(
        numbers=[
            {"number": COMPANY, "destination": {"hangup": True}, "welcome": {"prompt": "welcome"}}
        ]
    )
    call, _ = await call_number("2026-12-22 10:30", plan)
    assert call.verb_names() == ["note", "answer", "play", "note", "hangup"]
    assert call.plays == ["welcome"]
    assert call.steps()[0] == "number +34910000000: welcome prompt welcome → hang up"


async def test_a_welcome_file_is_played_from_the_tenants_media(tmp_path: Path) -> None:
    welcome = {"file": "greetings/hello.wav"}
    plan = dial_plan(
        numbers=[{"number": COMPANY, "destination": {"hangup": True}, "welcome": welcome}]
    )
    number = plan.virtual_number(COMPANY)
    assert number is not None
    call = FakeCall()
    await route_number(
        call, FakeEnv(plan, media_dir=tmp_path), number, features=FakeFeatures().features()
    )
    assert call.plays == [tmp_path.resolve() / "greetings" / "hello.wav"]


async def test_without_welcome_the_call_stays_unanswered() -> None:
    call, _ = await call_number("2026-12-25 10:30")
    assert "answer" not in call.verb_names()


# ---------------------------------------------------------------- terminal destinations


async def test_a_number_destination_dials_out_showing_the_company() -> None:
    call = FakeCall().script_dial(MOBILE, DialStatus.ANSWERED)
    call, _ = await walk(ToNumber(number=MOBILE), FakeEnv(acme_plan()), call)
    assert call.dialled() == [[MOBILE]]
    assert call.dials[0].caller_id == COMPANY
    assert call.hung_up and call.rejected is None
    assert call.steps()[-1] == "number +34600111222: answered by +34600111222"


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (DialStatus.NO_ANSWER, 480),
        (DialStatus.BUSY, 486),
        (DialStatus.UNREACHABLE, 480),
        (DialStatus.REJECTED, 603),
        (DialStatus.FAILED, 503),
    ],
)
async def test_a_number_nobody_answers_refuses_the_unanswered_caller(
    status: DialStatus, final: int
) -> None:
    call = FakeCall().script_dial(MOBILE, status)
    call, _ = await walk(ToNumber(number=MOBILE), FakeEnv(acme_plan()), call)
    assert call.rejected == final
    assert call.plays == []


@pytest.mark.parametrize(
    ("status", "prompt"),
    [(DialStatus.NO_ANSWER, "not_available"), (DialStatus.FAILED, "cannot_connect")],
)
async def test_an_answered_caller_hears_why_the_number_failed(
    status: DialStatus, prompt: str
) -> None:
    call = FakeCall(answered=True).script_dial(MOBILE, status)
    call, _ = await walk(ToNumber(number=MOBILE), FakeEnv(acme_plan()), call)
    assert call.plays == [prompt]
    assert call.hung_up and call.rejected is None


async def test_a_message_is_played_then_the_call_is_hung_up() -> None:
    call, _ = await walk(ToMessage(message="closed-notice"), FakeEnv(acme_plan()))
    assert call.verb_names() == ["note", "answer", "play", "hangup"]
    assert call.plays == ["closed-notice"]


async def test_hangup_hangs_up() -> None:
    call, _ = await walk(ToHangup(hangup=True), FakeEnv(acme_plan()))
    assert call.verb_names() == ["note", "hangup"]
    assert call.steps() == ["hang up"]


async def test_a_destination_naming_nothing_is_not_found() -> None:
    call, _ = await walk(ToRingGroup(ring_group="gone"), FakeEnv(acme_plan()))
    assert call.steps() == ["ring group gone: not found (404)"]
    assert call.rejected == 404


async def test_a_schedule_removed_since_is_not_found_too() -> None:
    call, _ = await walk(ToSchedule(schedule="nowhere"), FakeEnv(acme_plan()))
    assert call.steps() == ["schedule nowhere: not found (404)"]
    assert call.rejected == 404


async def test_rooms_and_boxes_go_to_their_features() -> None:
    call, features = await walk(ToConference(conference="team"), FakeEnv(acme_plan()))
    assert features.visits == [("conference", "team")]
    assert call.steps() == ["conference team"]
    call, features = await walk(ToVoicemail(voicemail="101"), FakeEnv(acme_plan()))
    assert features.visits == [("voicemail", "101")]


async def test_the_caller_hanging_up_while_it_rings_ends_the_walk() -> None:
    call = FakeCall().script_dial("101", HANGS_UP)
    with pytest.raises(CallerHungUp):
        await walk(ToExtension(extension="101"), FakeEnv(acme_plan()), call)
    assert call.rows == {}


async def test_without_reject_an_unanswered_refusal_is_a_hang_up() -> None:
    class PlainCall(FakeCall):
        reject = None  # type: ignore[assignment]

    call = PlainCall()
    await walk(ToRingGroup(ring_group="gone"), FakeEnv(acme_plan()), call)
    assert call.hung_up and call.rejected is None and call.plays == []


# ---------------------------------------------------------------- menus, loops and bounds


def menu_plan(**main: Any) -> DialPlan:
    return dial_plan(
        extensions=[{"number": "101"}, {"number": "102"}],
        ivrs=[
            {"name": "main", "options": {"1": {"ring_group": "sales"}}, **main},
            {"name": "other", "after_loops": {"ivr": "main"}},
        ],
        ring_groups=[{"name": "sales", "members": ["101"], "no_answer": {"ivr": "main"}}],
    )


async def test_a_menu_reentered_after_a_key_is_not_a_loop() -> None:
    env = FakeEnv(menu_plan())
    call, features = await walk(ToIvr(ivr="main"), env, main=[ToRingGroup(ring_group="sales")])
    assert features.visits == [("ivr", "main"), ("ivr", "main")]
    assert call.dialled() == [["101"]]
    assert not any("loop" in step for step in call.steps())
    assert call.steps()[-1] == "hang up"  # main's after_loops the second time


async def test_menus_passing_the_call_around_without_keys_are_a_loop() -> None:
    env = FakeEnv(menu_plan(after_loops={"ivr": "other"}))
    call, features = await walk(ToIvr(ivr="main"), env)
    assert features.visits == [("ivr", "main"), ("ivr", "other")]
    assert (
        call.steps()[-2] == "ivr main: reached again without the caller's input: a loop → hang up"
    )
    assert call.hung_up


async def test_a_fallback_that_a_key_also_reaches_counts_as_the_callers_choice() -> None:
    env = FakeEnv(menu_plan(after_loops={"ring_group": "sales"}))
    call, features = await walk(
        ToIvr(ivr="main"), env, main=[ToRingGroup(ring_group="sales"), None]
    )
    assert features.visits == [("ivr", "main"), ("ivr", "main")]
    assert not any("loop" in step for step in call.steps())


async def test_a_diverted_menu_is_followed_without_running_it() -> None:
    env = FakeEnv(menu_plan(diversion={"extension": "102"}))
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)
    call, features = await walk(ToIvr(ivr="main"), env, call)
    assert features.visits == []
    assert call.steps()[0] == "ivr main: diverted → extension 102"
    assert call.rows == {"102": ("answered_in", "102")}


async def test_a_long_forwarding_chain_is_cut_at_the_hop_bound() -> None:
    numbers = [str(n) for n in range(100, 100 + flow.MAX_HOPS + 5)]
    env = FakeEnv(dial_plan(), provisioned=numbers)
    env.overrides.update(itertools.pairwise(numbers))
    call, _ = await walk(ToExtension(extension=numbers[0]), env)
    assert call.dials == []
    assert call.steps()[-2] == (
        f"extension {numbers[flow.MAX_HOPS]}: more than {flow.MAX_HOPS} hops: "
        "the walk stops here → hang up"
    )
    assert call.hung_up


async def test_keys_reset_the_stretch_but_the_whole_call_is_bounded() -> None:
    env = FakeEnv(menu_plan())
    choices = [ToRingGroup(ring_group="sales")] * (flow.MAX_CALL_HOPS + 10)
    call, features = await walk(ToIvr(ivr="main"), env, main=choices)
    assert "more than 100 hops" in call.steps()[-2]
    assert len(features.visits) == flow.MAX_CALL_HOPS // 2


async def test_depth_counts_towards_the_call_bound() -> None:
    call = FakeCall()
    await route(call, FakeEnv(acme_plan()), ToHangup(hangup=True), depth=flow.MAX_CALL_HOPS)
    assert "more than 100 hops" in call.steps()[0]


# ---------------------------------------------------------------- internal calls


async def dial_internal(
    dialled: str, env: FakeEnv | None = None, call: FakeCall | None = None
) -> tuple[FakeCall, FakeFeatures]:
    call = call or FakeCall(caller="102", service=dialled)
    features = FakeFeatures()
    env = env or FakeEnv(acme_plan(), now=at("2026-12-22 10:30"))
    await route_internal(call, env, dialled, features=features.features())
    return call, features


async def test_short_numbers_reach_the_plans_nodes() -> None:
    call, features = await dial_internal("600")
    assert call.steps()[0] == "internal 600 → ring group sales"
    assert call.dialled()[0] == ["101"]
    _, features = await dial_internal("500")
    assert features.visits[0] == ("ivr", "main")
    _, features = await dial_internal("800")
    assert features.visits == [("conference", "team")]


async def test_an_extension_provisioned_after_the_plan_rings() -> None:
    env = FakeEnv(acme_plan(), provisioned={"101", "102", "103"})
    call, _ = await dial_internal("103", env)
    assert call.dialled() == [["103"]]


@pytest.mark.parametrize("dialled", ["+34600111222", "600111222", "600 11 12 22", "0034600111222"])
async def test_public_numbers_dial_out_with_the_company_number(dialled: str) -> None:
    call, _ = await dial_internal(dialled)
    assert call.dialled() == [[MOBILE]]
    assert call.dials[0].caller_id == COMPANY


async def test_the_tenants_own_number_is_followed_like_a_call_from_outside() -> None:
    call, features = await dial_internal("910000000")
    assert call.steps()[0] == "number +34910000000 → schedule office"
    assert features.visits[0] == ("ivr", "main")


@pytest.mark.parametrize("dialled", ["555", "12", "*99", "+3460011", ""])
async def test_a_number_reaching_nothing_raises_not_found_before_touching_the_call(
    dialled: str,
) -> None:
    call = FakeCall()
    with pytest.raises(NotFoundError) as raised:
        await dial_internal(dialled, call=call)
    assert raised.value.status_code == 404
    assert set(call.verb_names()) == {"note"}
    assert "not found (404)" in call.steps()[0]


async def test_an_extension_removed_since_the_plan_is_not_found() -> None:
    env = FakeEnv(acme_plan(), provisioned={"101"})
    with pytest.raises(NotFoundError):
        await dial_internal("102", env)


async def test_national_numbers_need_the_tenants_country() -> None:
    plan = dial_plan()
    assert flow.public_number("600111222", plan.country) is None
    assert flow.public_number("600111222", "ES") == MOBILE


def test_every_refusal_prompt_exists_in_the_prompt_table() -> None:
    refusals = [*extension.DIAL_REFUSALS.values(), extension.UNKNOWN_NUMBER]
    assert {r.prompt for r in refusals} <= set(PROMPTS)
