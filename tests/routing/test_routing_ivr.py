"""IVR menus: keys, timeouts, invalid keys, the N-loop fallback, direct dialling, type-ahead,
nested menus, diversion and where the greeting comes from.

The fake call is a script of what the caller does: ``during[label]`` lists the keys pressed
while that prompt plays (one entry per time it is played), ``waits`` the keys pressed during
each wait for a key when none is queued ("" lets the wait time out, None hangs up). Keys are
queued and taken as :mod:`centralita.live` takes them: a barge-in prompt returns the first
queued key, a prompt without barge-in leaves them queued for the next collect
(tests/routing/fakes.py: ``press_during`` and ``press_when_asked``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from centralita.config.dialplan import (
    DestinationModel,
    IvrConfig,
    ToExtension,
    ToHangup,
    ToIvr,
    ToRingGroup,
    ToSchedule,
    ToVoicemail,
)
from centralita.routing.context import CallerHungUp
from centralita.routing.ivr import INTER_DIGIT_TIMEOUT, run
from tests.routing.fakes import FakeCall, FakeEnv

Script = Sequence[str | None]


def caller(*, during: dict[str, Script] | None = None, waits: Script = ()) -> FakeCall:
    call = FakeCall(service="500").press_when_asked(*waits)
    for label, keys in (during or {}).items():
        call.press_during(label, *keys)
    return call


def played(call: FakeCall) -> list[tuple[str, str]]:
    """What played, each with the key that interrupted it ("" none)."""
    return [(playback.label, playback.interrupted_by) for playback in call.played]


def ivr_notes(call: FakeCall) -> list[dict[str, Any]]:
    return [{k: v for k, v in step.items() if k != "node"} for step in call.notes]


def environment(media: Path, extensions: frozenset[str] = frozenset()) -> FakeEnv:
    return FakeEnv(provisioned=extensions, media_dir=media)


class Hops:
    """The ``goto`` a menu is given: records where it sent the call."""

    def __init__(self) -> None:
        self.to: list[DestinationModel] = []

    async def __call__(self, destination: DestinationModel) -> None:
        self.to.append(destination)


MAIN = {
    "name": "main",
    "number": "500",
    "greeting": {"prompt": "welcome"},
    "options": {"1": {"ring_group": "sales"}, "2": {"extension": "101"}, "#": {"hangup": True}},
    "timeout": 5,
    "loops": 3,
    "after_loops": {"voicemail": "general"},
}
SALES = ToRingGroup(ring_group="sales")
ALICE = ToExtension(extension="101")
GENERAL = ToVoicemail(voicemail="general")


def menu(**changes: Any) -> IvrConfig:
    return IvrConfig.model_validate({**MAIN, **changes})


async def visit(
    ivr: IvrConfig, call: FakeCall, *, media: Path, extensions: frozenset[str] = frozenset()
) -> Hops:
    hops = Hops()
    await run(call, environment(media, extensions), ivr, hops)
    return hops


# ------------------------------------------------------------------ keys and rounds


async def test_a_key_after_the_greeting_takes_its_option(tmp_path: Path) -> None:
    call = caller(waits=["2"])
    hops = await visit(menu(), call, media=tmp_path)
    assert call.answered
    assert hops.to == [ALICE]
    assert played(call) == [("welcome", "")]
    assert call.waited == [5.0]
    assert ivr_notes(call) == [
        {"ivr": "main", "greeting": "prompt welcome", "loops": 3},
        {"ivr": "main", "loop": 1, "key": "2", "to": "extension 101"},
    ]


async def test_a_key_during_the_greeting_interrupts_it_and_is_taken_at_once(
    tmp_path: Path,
) -> None:
    call = caller(during={"welcome": ["1"]})
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [SALES]
    assert played(call) == [("welcome", "1")]
    assert call.waited == []  # no wait for a key once one was pressed


async def test_hash_can_be_an_option_key(tmp_path: Path) -> None:
    call = caller(waits=["#"])
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [ToHangup(hangup=True)]


async def test_no_key_in_any_round_goes_to_after_loops(tmp_path: Path) -> None:
    call = caller()
    hops = await visit(menu(timeout=7), call, media=tmp_path)
    assert hops.to == [GENERAL]
    assert played(call) == [("welcome", "")] * 3
    assert call.waited == [7.0] * 3
    assert ivr_notes(call)[1:] == [
        {"ivr": "main", "loop": 1, "no_key": 7.0},
        {"ivr": "main", "loop": 2, "no_key": 7.0},
        {"ivr": "main", "loop": 3, "no_key": 7.0},
        {"ivr": "main", "after_loops": 3, "to": "voicemail general"},
    ]


async def test_an_invalid_key_plays_the_system_prompt_and_the_menu_again(
    tmp_path: Path,
) -> None:
    call = caller(waits=["7", "1"])
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [SALES]
    assert played(call) == [("welcome", ""), ("invalid_option", ""), ("welcome", "")]
    assert {"ivr": "main", "loop": 1, "invalid": "7"} in ivr_notes(call)
    assert ivr_notes(call)[-1] == {"ivr": "main", "loop": 2, "key": "1", "to": "ring group sales"}


async def test_the_menus_own_invalid_prompt_replaces_the_system_one(tmp_path: Path) -> None:
    call = caller(waits=["*", "2"])
    hops = await visit(menu(invalid={"prompt": "not_available"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert ("not_available", "") in played(call)
    assert ("invalid_option", "") not in played(call)


async def test_invalid_keys_count_as_rounds_up_to_the_fallback(tmp_path: Path) -> None:
    call = caller(waits=["7", "8", "9"])
    hops = await visit(menu(loops=2, after_loops={"hangup": True}), call, media=tmp_path)
    assert hops.to == [ToHangup(hangup=True)]
    assert [what for what, _ in played(call)] == [
        "welcome",
        "invalid_option",
        "welcome",
        "invalid_option",
    ]
    assert call.waits == ["9"]  # the third key was never asked for


async def test_keys_pressed_during_the_invalid_prompt_are_the_next_rounds_choice(
    tmp_path: Path,
) -> None:
    call = caller(waits=["5"], during={"invalid_option": ["2"]})
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [ALICE]
    # The queued key interrupts the second greeting as soon as it starts.
    assert played(call) == [("welcome", ""), ("invalid_option", ""), ("welcome", "2")]
    assert call.waited == [5.0]


async def test_a_hang_up_propagates_and_goes_nowhere(tmp_path: Path) -> None:
    call = caller(waits=["", None])
    hops = Hops()
    env = environment(tmp_path)
    with pytest.raises(CallerHungUp):
        await run(call, env, menu(), hops)
    assert hops.to == []


# ------------------------------------------------------------------ direct dialling


async def test_direct_dial_reaches_an_existing_extension(tmp_path: Path) -> None:
    call = caller(waits=["102"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"102"}))
    assert hops.to == [ToExtension(extension="102")]
    # the first key, then the pause after the last digit that ends the number
    assert call.waited == [5.0, INTER_DIGIT_TIMEOUT]
    assert ivr_notes(call)[-1] == {
        "ivr": "main",
        "loop": 1,
        "dialled": "102",
        "to": "extension 102",
    }


async def test_direct_dial_of_an_unknown_extension_is_an_invalid_choice(tmp_path: Path) -> None:
    call = caller(waits=["109", "", "2", ""])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"102"}))
    assert hops.to == [ALICE]
    assert {"ivr": "main", "loop": 1, "invalid": "109"} in ivr_notes(call)


async def test_direct_dial_an_option_key_alone_is_the_option_after_the_pause(
    tmp_path: Path,
) -> None:
    call = caller(waits=["1", ""])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"101"}))
    assert hops.to == [SALES]
    assert call.waited == [5.0, INTER_DIGIT_TIMEOUT]


async def test_direct_dial_an_option_key_then_hash_is_the_option_at_once(tmp_path: Path) -> None:
    call = caller(waits=["1#"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path)
    assert hops.to == [SALES]
    assert call.waited == [5.0]


async def test_direct_dial_an_option_key_followed_by_digits_is_an_extension(
    tmp_path: Path,
) -> None:
    call = caller(waits=["101"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"101"}))
    assert hops.to == [ALICE]
    assert ivr_notes(call)[-1]["dialled"] == "101"


async def test_without_direct_dial_the_first_key_is_the_whole_choice(tmp_path: Path) -> None:
    call = caller(waits=["101"])
    hops = await visit(menu(), call, media=tmp_path, extensions=frozenset({"101"}))
    assert hops.to == [SALES]
    assert call.waited == [5.0]
    assert list(call.keys) == ["0", "1"]  # left for whoever listens next


async def test_star_never_starts_a_number(tmp_path: Path) -> None:
    call = caller(waits=["*", "2"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path)
    assert hops.to == [ALICE]
    # "*" is decided at once (invalid: a new round); "2" then waits for a second digit.
    assert call.waited == [5.0, 5.0, INTER_DIGIT_TIMEOUT]
    assert {"ivr": "main", "loop": 1, "invalid": "*"} in ivr_notes(call)


async def test_an_extension_typed_ahead_during_the_greeting(tmp_path: Path) -> None:
    call = caller(during={"welcome": ["102"]})
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"102"}))
    assert hops.to == [ToExtension(extension="102")]
    assert played(call) == [("welcome", "1")]
    assert call.waited == [INTER_DIGIT_TIMEOUT]  # only the pause that ends the number


# ------------------------------------------------------------------ nesting and diversion


async def test_menus_nest_through_goto(tmp_path: Path) -> None:
    menus = {
        "main": menu(options={"1": {"ivr": "support"}}),
        "support": IvrConfig.model_validate(
            {
                "name": "support",
                "greeting": {"prompt": "please_hold"},
                "options": {"0": {"ivr": "main"}, "2": {"extension": "101"}},
            }
        ),
    }
    call = caller(during={"welcome": ["1", ""], "please_hold": ["0", "2"]}, waits=["1"])
    env = environment(tmp_path)
    hops = Hops()

    async def goto(destination: DestinationModel) -> None:
        await hops(destination)
        if isinstance(destination, ToIvr):
            await run(call, env, menus[destination.ivr], goto)

    await run(call, env, menus["main"], goto)
    assert hops.to == [ToIvr(ivr="support"), ToIvr(ivr="main"), ToIvr(ivr="support"), ALICE]
    assert played(call) == [
        ("welcome", "1"),
        ("please_hold", "0"),
        ("welcome", ""),
        ("please_hold", "2"),
    ]
    assert [step["ivr"] for step in ivr_notes(call) if "to" in step] == [
        "main",
        "support",
        "main",
        "support",
    ]


async def test_diversion_sends_every_call_on_without_answering(tmp_path: Path) -> None:
    call = caller()
    hops = await visit(menu(diversion={"extension": "101"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert not call.answered
    assert played(call) == []
    assert ivr_notes(call) == [{"ivr": "main", "diversion": "extension 101"}]


async def test_diversion_to_a_schedule_makes_the_menu_work_by_schedule(tmp_path: Path) -> None:
    call = caller()
    hops = await visit(menu(diversion={"schedule": "office"}), call, media=tmp_path)
    assert hops.to == [ToSchedule(schedule="office")]
    assert played(call) == []


# ------------------------------------------------------------------ where the greeting comes from


def write(path: Path, data: bytes = b"RIFF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def test_the_greeting_can_be_an_uploaded_file(tmp_path: Path) -> None:
    write(tmp_path / "greetings" / "main-upload.wav")
    call = caller(during={"main-upload.wav": ["2"]})
    hops = await visit(menu(greeting={"file": "greetings/main-upload.wav"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert played(call) == [("main-upload.wav", "2")]
    assert ivr_notes(call)[0]["greeting"] == "file greetings/main-upload.wav"


async def test_a_missing_uploaded_greeting_is_skipped_and_said_in_the_trace(
    tmp_path: Path,
) -> None:
    call = caller(waits=["2"])
    hops = await visit(menu(greeting={"file": "greetings/gone.wav"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert played(call) == []
    assert ivr_notes(call)[0]["greeting"] == "file greetings/gone.wav (missing)"


async def test_without_a_configured_greeting_the_one_recorded_by_phone_plays(
    tmp_path: Path,
) -> None:
    write(tmp_path / "greetings" / "ivr-main.wav")
    call = caller(waits=["2"])
    hops = await visit(menu(greeting=None), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert played(call) == [("ivr-main.wav", "")]
    assert ivr_notes(call)[0]["greeting"] == "recorded by phone"


async def test_a_configured_greeting_wins_over_the_recorded_one(tmp_path: Path) -> None:
    write(tmp_path / "greetings" / "ivr-main.wav")
    call = caller(waits=["2"])
    await visit(menu(), call, media=tmp_path)
    assert played(call) == [("welcome", "")]


async def test_no_greeting_at_all_waits_for_a_key_at_once(tmp_path: Path) -> None:
    write(tmp_path / "greetings" / "ivr-other.wav")  # another menu's recording
    call = caller(waits=["", "1"])
    hops = await visit(menu(greeting=None), call, media=tmp_path)
    assert hops.to == [SALES]
    assert played(call) == []
    assert call.waited == [5.0, 5.0]
    assert ivr_notes(call)[0]["greeting"] == "none"
