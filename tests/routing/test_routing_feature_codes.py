"""Feature codes dialled from a phone: DND, unconditional forward, voicemail access and
recording an IVR greeting (centralita.routing.feature_codes)."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime
from typing import Any

import pytest

import centralita.routing
from centralita.config.dialplan import DialPlan, FeatureCodes
from centralita.routing.context import CallerHungUp, Playable
from centralita.routing.feature_codes import (
    FORWARD_ATTEMPTS,
    FeatureCode,
    InvalidForwardTarget,
    feature_for,
    forward_target,
    run,
)
from tests.routing.fakes import FakeCall, FakeEnv

PLAN = DialPlan.model_validate(
    {
        "country": "ES",
        "extensions": [{"number": "101"}, {"number": "102"}],
        "numbers": [{"number": "+34910000000", "destination": {"ivr": "main"}}],
        "ivrs": [{"name": "main", "number": "500"}, {"name": "night"}],
        "ring_groups": [{"name": "sales", "number": "600", "members": ["101", "102"]}],
    }
)


def fakes(caller: str = "101") -> tuple[FakeCall, FakeEnv]:
    """A call from ``caller`` and the PBX, which writes what it changed among the call's
    verbs (so that the order of settings and prompts can be checked). Keys the caller is
    to type are pressed with ``call.press``; running out of them means the caller hung up."""
    call = FakeCall(caller=caller, caller_name="Alice", service="", hangs_up_when_out_of_keys=True)
    env = FakeEnv(PLAN, now=datetime(2026, 12, 1, 10, 0, tzinfo=UTC), journal=call.verbs)
    return call, env


def log(call: FakeCall) -> list[tuple[Any, ...]]:
    """What the feature did, in order: answering (when it answered), prompts, collecting
    digits, hanging up, and the settings changed."""
    entries: list[tuple[Any, ...]] = []
    answered = False
    for verb in call.verbs:
        args = verb.args
        if verb.name == "answer" and not answered:
            entries.append(("answer",))
            answered = True
        elif verb.name == "hangup":
            entries.append(("hangup",))
        elif verb.name == "play":
            what = args["what"]
            entries.append(
                ("play", list(what) if isinstance(what, list) else [what], args["interrupt_on"])
            )
        elif verb.name == "collect_digits":
            entries.append(("collect", args["max_digits"]))
        elif verb.name == "set_dnd":
            entries.append(("set_dnd", args["number"], args["on"]))
        elif verb.name == "set_forward_override":
            entries.append(("set_forward", args["number"], args["target"]))
    return entries


async def dial(call: FakeCall, env: FakeEnv, dialled: str) -> None:
    feature = feature_for(dialled, env.plan.feature_codes)
    assert feature is not None, dialled
    await run(call, env, feature)


def plays(call: FakeCall) -> list[list[Playable]]:
    return [entry[1] for entry in log(call) if entry[0] == "play"]


# ---------------------------------------------------------------- recognising codes


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [
        ("*78", FeatureCode("dnd_on")),
        ("*79", FeatureCode("dnd_off")),
        ("*73", FeatureCode("forward_off")),
        ("*97", FeatureCode("voicemail")),
        (" *72 ", FeatureCode("forward_on")),
        ("*72102", FeatureCode("forward_on", "102")),
        ("*72+34600111222", FeatureCode("forward_on", "+34600111222")),
        ("*720034600111222", FeatureCode("forward_on", "0034600111222")),
        ("*96", FeatureCode("record_greeting")),
        ("*96500", FeatureCode("record_greeting", "500")),
        ("*72abc", None),
        ("*72+", None),
        ("*96+500", None),
        ("*7", None),
        ("*43", None),  # the built-in echo test is not a configurable feature code
        ("101", None),
        ("", None),
    ],
)
def test_feature_for_the_default_codes(dialled: str, expected: FeatureCode | None) -> None:
    assert feature_for(dialled, FeatureCodes()) == expected


def test_feature_for_configured_codes() -> None:
    codes = FeatureCodes(dnd_on="#21", forward_on="#4", record_greeting="*55")
    assert feature_for("#21", codes) == FeatureCode("dnd_on")
    assert feature_for("*78", codes) is None
    assert feature_for("#4102", codes) == FeatureCode("forward_on", "102")
    assert feature_for("*72102", codes) is None
    assert feature_for("*55500", codes) == FeatureCode("record_greeting", "500")


def test_a_feature_code_kind_must_be_known() -> None:
    with pytest.raises(ValueError, match="unknown feature code kind 'park'"):
        FeatureCode("park")


def test_record_greeting_code_must_not_shadow_others() -> None:
    with pytest.raises(ValueError, match=r"voicemail: \*97 starts with record_greeting \(\*9\)"):
        FeatureCodes(record_greeting="*9")
    with pytest.raises(ValueError, match=r"record_greeting and forward_on are both \*72"):
        FeatureCodes(record_greeting="*72")
    with pytest.raises(ValueError, match=r"forward_on: \*4 followed by digits would take"):
        FeatureCodes(forward_on="*4")  # *41 and *43 are the built-in tests


# ---------------------------------------------------------------- forward targets


def target(dialled: str, plan: DialPlan | None = PLAN) -> str:
    known = {"101", "102"}
    return forward_target(dialled, extension="101", plan=plan, extension_exists=known.__contains__)


def test_forward_targets_are_normalised() -> None:
    assert target("102") == "102"
    assert target("600111222") == "+34600111222"  # national, in the tenant's country
    assert target("0034600111222") == "+34600111222"  # the country's international prefix
    assert target("+34 600 11-12-22") == "+34600111222"
    assert target("00442079460000") == "+442079460000"
    assert target("+442079460000", plan=None) == "+442079460000"


@pytest.mark.parametrize(
    ("dialled", "reason"),
    [
        ("101", "101 is the extension itself"),
        ("", "no number was given"),
        ("600", "600 is neither an extension nor a valid number in ES"),  # a ring group
        ("112", "112 is neither an extension nor a valid number in ES"),
        ("+34806123456", "+34806123456 is a premium-rate number"),
        ("910000000", "+34910000000 is a virtual number of the tenant"),
    ],
)
def test_forward_targets_refused(dialled: str, reason: str) -> None:
    with pytest.raises(InvalidForwardTarget) as refused:
        target(dialled)
    assert str(refused.value) == reason


def test_without_a_country_only_international_numbers() -> None:
    with pytest.raises(InvalidForwardTarget, match="must be international"):
        target("600111222", plan=None)


# ---------------------------------------------------------------- do not disturb


async def test_dnd_on_sets_then_confirms_and_hangs_up() -> None:
    call, env = fakes()
    await dial(call, env, "*78")
    assert env.dnd("101") is True
    assert log(call) == [
        ("set_dnd", "101", True),
        ("answer",),
        ("play", ["dnd_on"], ""),
        ("hangup",),
    ]
    assert call.notes == [{"node": "feature_code", "feature": "dnd_on", "extension": "101"}]


async def test_dnd_off() -> None:
    call, env = fakes()
    env.in_dnd.add("101")
    await dial(call, env, "*79")
    assert env.dnd("101") is False
    assert plays(call) == [["dnd_off"]]
    assert log(call)[-1] == ("hangup",)


async def test_a_caller_that_is_no_extension_changes_nothing() -> None:
    call, env = fakes(caller="+34600111222")
    await dial(call, env, "*78")
    assert log(call) == [("hangup",)]  # never answered, nothing set
    assert env.in_dnd == set()
    assert call.notes[0]["result"] == "refused"


# ---------------------------------------------------------------- forwarding


async def test_forward_to_an_extension_reads_it_back() -> None:
    call, env = fakes()
    await dial(call, env, "*72102")
    assert env.forward_override("101") == "102"
    assert plays(call) == [["forward_on", "digit_1", "digit_0", "digit_2"]]
    assert log(call)[-1] == ("hangup",)
    assert call.notes[-1] == {
        "node": "feature_code",
        "feature": "forward_on",
        "extension": "101",
        "target": "102",
    }


async def test_forward_to_a_national_number_is_stored_in_e164() -> None:
    call, env = fakes()
    await dial(call, env, "*72600111222")
    assert env.overrides == {"101": "+34600111222"}
    spoken = ["digit_plus"] + [f"digit_{d}" for d in "34600111222"]
    assert plays(call) == [["forward_on", *spoken]]


async def test_forward_without_a_number_asks_for_it() -> None:
    call, env = fakes()
    call.press("102#")
    await dial(call, env, "*72")
    assert env.overrides == {"101": "102"}
    assert log(call)[:3] == [
        ("answer",),
        ("play", ["enter_number"], "0123456789#"),
        ("collect", 20),
    ]


async def test_a_refused_target_is_asked_again_once() -> None:
    call, env = fakes()
    call.press("600111222#")
    await dial(call, env, "*72101")  # itself
    assert env.overrides == {"101": "+34600111222"}
    assert plays(call)[:2] == [["invalid_option"], ["enter_number"]]
    assert call.notes[0]["reason"] == "101 is the extension itself"


async def test_refused_every_time_sets_nothing() -> None:
    call, env = fakes()
    call.press(*["112#"] * FORWARD_ATTEMPTS)
    await dial(call, env, "*72910000000")  # the tenant's own virtual number
    assert env.overrides == {}
    assert [p for p in plays(call) if p == ["invalid_option"]] == [["invalid_option"]] * 2
    assert plays(call)[-1] == ["goodbye"]
    assert log(call)[-1] == ("hangup",)
    refused = [n["reason"] for n in call.notes if n.get("result") == "refused"]
    assert refused == [
        "+34910000000 is a virtual number of the tenant",
        "112 is neither an extension nor a valid number in ES",
    ]


async def test_hanging_up_while_asked_sets_nothing() -> None:
    call, env = fakes()
    with pytest.raises(CallerHungUp):
        await dial(call, env, "*72")  # no keys: the caller hangs up during collect_digits
    assert env.overrides == {}


async def test_forward_off_clears() -> None:
    call, env = fakes()
    env.overrides["101"] = "102"
    await dial(call, env, "*73")
    assert env.forward_override("101") is None
    assert log(call) == [
        ("set_forward", "101", None),
        ("answer",),
        ("play", ["forward_off"], ""),
        ("hangup",),
    ]


# ---------------------------------------------------------------- voicemail and greetings


@pytest.fixture
def features(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object, object, object]]:
    """Stand-ins for routing.voicemail.access and routing.ivr.record_greeting, whichever of
    the real modules exist (both imported by the feature on first use)."""
    calls: list[tuple[str, object, object, object]] = []

    async def access(call: object, env: object, box: str | None) -> None:
        calls.append(("access", call, env, box))

    async def record_greeting(call: object, env: object, name: str) -> None:
        calls.append(("record_greeting", call, env, name))

    for name, function in (("voicemail", access), ("ivr", record_greeting)):
        module = types.ModuleType(f"centralita.routing.{name}")
        setattr(module, function.__name__, function)
        monkeypatch.setitem(sys.modules, module.__name__, module)
        monkeypatch.setattr(centralita.routing, name, module, raising=False)
    return calls


async def test_voicemail_opens_the_callers_own_box(
    features: list[tuple[str, object, object, object]],
) -> None:
    call, env = fakes(caller="102")
    await dial(call, env, "*97")
    assert features == [("access", call, env, "102")]
    assert call.notes == [{"node": "feature_code", "feature": "voicemail", "box": "102"}]


async def test_record_greeting_of_an_ivr_by_its_number(
    features: list[tuple[str, object, object, object]],
) -> None:
    call, env = fakes()
    await dial(call, env, "*96500")
    assert features == [("record_greeting", call, env, "main")]
    assert call.notes[-1]["ivr"] == "main"


async def test_record_greeting_asks_for_the_ivr_number(
    features: list[tuple[str, object, object, object]],
) -> None:
    call, env = fakes()
    call.press("500#")
    await dial(call, env, "*96")
    assert features == [("record_greeting", call, env, "main")]
    assert plays(call) == [["enter_number"]]


@pytest.mark.parametrize("number", ["555", "600", "102"])  # nothing; a ring group; an extension
async def test_record_greeting_of_no_ivr_is_refused(
    features: list[tuple[str, object, object, object]], number: str
) -> None:
    call, env = fakes()
    await dial(call, env, f"*96{number}")
    assert features == []
    assert plays(call) == [["invalid_option", "goodbye"]]
    assert log(call)[-1] == ("hangup",)
    assert call.notes[-1]["reason"] == "no such IVR"
