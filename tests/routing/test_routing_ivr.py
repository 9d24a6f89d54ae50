"""IVR menus: keys, timeouts, invalid keys, the N-loop fallback, direct dialling, type-ahead,
nested menus, diversion and where the greeting comes from.

The fake call is a script of what the caller does: ``during[label]`` lists the keys pressed
while that prompt plays (one entry per time it is played), ``waits`` the keys pressed during
each wait for a key when none is queued ("" lets the wait time out, None hangs up). Keys are
queued and taken as :mod:`centralita.live` takes them: a barge-in prompt returns the first
queued key, a prompt without barge-in leaves them queued for the next collect.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

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
from centralita.routing.context import CallContext, CallerHungUp, Playable
from centralita.routing.env import RoutingEnv
from centralita.routing.ivr import INTER_DIGIT_TIMEOUT, run

Script = Sequence[str | None]


def _label(item: Playable) -> str:
    return item.name if isinstance(item, Path) else str(item)


class FakeCall:
    caller = "+34600999888"
    caller_name = ""
    tenant = "acme"
    service = "500"
    language = "en"

    def __init__(self, *, during: dict[str, Script] | None = None, waits: Script = ()) -> None:
        self.during = {label: list(keys) for label, keys in (during or {}).items()}
        self.waits = list(waits)
        self.queue: deque[str] = deque()
        self.played: list[tuple[str, str]] = []  # (what, the key that interrupted it)
        self.waited: list[float] = []  # the timeout of each wait for a key
        self.trace: list[dict[str, Any]] = []
        self.answered = False

    async def answer(self) -> None:
        self.answered = True

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        assert self.answered, "a feature answers before it plays"
        for item in what if isinstance(what, list) else [what]:
            pressed = self.during.get(_label(item))
            keys = pressed.pop(0) if pressed else ""
            if keys is None:
                raise CallerHungUp()
            self.queue.extend(keys)
            key = self._barge_in(interrupt_on)
            self.played.append((_label(item), key))
            if key:
                return key
        return ""

    def _barge_in(self, interrupt_on: str) -> str:
        while interrupt_on and self.queue:
            key = self.queue.popleft()
            if key in interrupt_on:
                return key
        return ""

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,
        *,
        terminator: str = "#",
        first_digit: str = "",
        inter_digit_timeout: float | None = None,
    ) -> str:
        if terminator and first_digit == terminator:
            return ""
        digits = first_digit
        wait = timeout if not digits else (inter_digit_timeout or timeout)
        while len(digits) < max_digits:
            key = self._next_key(wait)
            if key is None or key == terminator:
                break
            digits += key
            wait = inter_digit_timeout or timeout
        return digits

    def _next_key(self, wait: float) -> str | None:
        if not self.queue:
            self.waited.append(wait)
            keys = self.waits.pop(0) if self.waits else ""
            if keys is None:
                raise CallerHungUp()
            self.queue.extend(keys)
        return self.queue.popleft() if self.queue else None

    def note(self, **fields: Any) -> None:
        self.trace.append(fields)

    def ivr_notes(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in step.items() if k != "node"} for step in self.trace]


class FakeEnv:
    def __init__(self, media: Path, extensions: frozenset[str] = frozenset()) -> None:
        self.media = media
        self.extensions = extensions

    def media_path(self, relative: str) -> Path:
        return self.media / relative

    def extension_exists(self, number: str) -> bool:
        return number in self.extensions


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
    env = FakeEnv(media, extensions)
    await run(cast(CallContext, call), cast(RoutingEnv, env), ivr, hops)
    return hops


# ------------------------------------------------------------------ keys and rounds


async def test_a_key_after_the_greeting_takes_its_option(tmp_path: Path) -> None:
    call = FakeCall(waits=["2"])
    hops = await visit(menu(), call, media=tmp_path)
    assert call.answered
    assert hops.to == [ALICE]
    assert call.played == [("welcome", "")]
    assert call.waited == [5.0]
    assert call.ivr_notes() == [
        {"ivr": "main", "greeting": "prompt welcome", "loops": 3},
        {"ivr": "main", "loop": 1, "key": "2", "to": "extension 101"},
    ]


async def test_a_key_during_the_greeting_interrupts_it_and_is_taken_at_once(
    tmp_path: Path,
) -> None:
    call = FakeCall(during={"welcome": ["1"]})
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [SALES]
    assert call.played == [("welcome", "1")]
    assert call.waited == []  # no wait for a key once one was pressed


async def test_hash_can_be_an_option_key(tmp_path: Path) -> None:
    call = FakeCall(waits=["#"])
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [ToHangup(hangup=True)]


async def test_no_key_in_any_round_goes_to_after_loops(tmp_path: Path) -> None:
    call = FakeCall()
    hops = await visit(menu(timeout=7), call, media=tmp_path)
    assert hops.to == [GENERAL]
    assert call.played == [("welcome", "")] * 3
    assert call.waited == [7.0] * 3
    assert call.ivr_notes()[1:] == [
        {"ivr": "main", "loop": 1, "no_key": 7.0},
        {"ivr": "main", "loop": 2, "no_key": 7.0},
        {"ivr": "main", "loop": 3, "no_key": 7.0},
        {"ivr": "main", "after_loops": 3, "to": "voicemail general"},
    ]


async def test_an_invalid_key_plays_the_system_prompt_and_the_menu_again(
    tmp_path: Path,
) -> None:
    call = FakeCall(waits=["7", "1"])
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [SALES]
    assert call.played == [("welcome", ""), ("invalid_option", ""), ("welcome", "")]
    assert {"ivr": "main", "loop": 1, "invalid": "7"} in call.ivr_notes()
    assert call.ivr_notes()[-1] == {"ivr": "main", "loop": 2, "key": "1", "to": "ring group sales"}


async def test_the_menus_own_invalid_prompt_replaces_the_system_one(tmp_path: Path) -> None:
    call = FakeCall(waits=["*", "2"])
    hops = await visit(menu(invalid={"prompt": "not_available"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert ("not_available", "") in call.played
    assert ("invalid_option", "") not in call.played


async def test_invalid_keys_count_as_rounds_up_to_the_fallback(tmp_path: Path) -> None:
    call = FakeCall(waits=["7", "8", "9"])
    hops = await visit(menu(loops=2, after_loops={"hangup": True}), call, media=tmp_path)
    assert hops.to == [ToHangup(hangup=True)]
    assert [what for what, _ in call.played] == [
        "welcome",
        "invalid_option",
        "welcome",
        "invalid_option",
    ]
    assert call.waits == ["9"]  # the third key was never asked for


async def test_keys_pressed_during_the_invalid_prompt_are_the_next_rounds_choice(
    tmp_path: Path,
) -> None:
    call = FakeCall(waits=["5"], during={"invalid_option": ["2"]})
    hops = await visit(menu(), call, media=tmp_path)
    assert hops.to == [ALICE]
    # The queued key interrupts the second greeting as soon as it starts.
    assert call.played == [("welcome", ""), ("invalid_option", ""), ("welcome", "2")]
    assert call.waited == [5.0]


async def test_a_hang_up_propagates_and_goes_nowhere(tmp_path: Path) -> None:
    call = FakeCall(waits=["", None])
    hops = Hops()
    env = FakeEnv(tmp_path)
    with pytest.raises(CallerHungUp):
        await run(cast(CallContext, call), cast(RoutingEnv, env), menu(), hops)
    assert hops.to == []


# ------------------------------------------------------------------ direct dialling


async def test_direct_dial_reaches_an_existing_extension(tmp_path: Path) -> None:
    call = FakeCall(waits=["102"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"102"}))
    assert hops.to == [ToExtension(extension="102")]
    # the first key, then the pause after the last digit that ends the number
    assert call.waited == [5.0, INTER_DIGIT_TIMEOUT]
    assert call.ivr_notes()[-1] == {
        "ivr": "main",
        "loop": 1,
        "dialled": "102",
        "to": "extension 102",
    }


async def test_direct_dial_of_an_unknown_extension_is_an_invalid_choice(tmp_path: Path) -> None:
    call = FakeCall(waits=["109", "", "2", ""])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"102"}))
    assert hops.to == [ALICE]
    assert {"ivr": "main", "loop": 1, "invalid": "109"} in call.ivr_notes()


async def test_direct_dial_an_option_key_alone_is_the_option_after_the_pause(
    tmp_path: Path,
) -> None:
    call = FakeCall(waits=["1", ""])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"101"}))
    assert hops.to == [SALES]
    assert call.waited == [5.0, INTER_DIGIT_TIMEOUT]


async def test_direct_dial_an_option_key_then_hash_is_the_option_at_once(tmp_path: Path) -> None:
    call = FakeCall(waits=["1#"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path)
    assert hops.to == [SALES]
    assert call.waited == [5.0]


async def test_direct_dial_an_option_key_followed_by_digits_is_an_extension(
    tmp_path: Path,
) -> None:
    call = FakeCall(waits=["101"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"101"}))
    assert hops.to == [ALICE]
    assert call.ivr_notes()[-1]["dialled"] == "101"


async def test_without_direct_dial_the_first_key_is_the_whole_choice(tmp_path: Path) -> None:
    call = FakeCall(waits=["101"])
    hops = await visit(menu(), call, media=tmp_path, extensions=frozenset({"101"}))
    assert hops.to == [SALES]
    assert call.waited == [5.0]
    assert list(call.queue) == ["0", "1"]  # left for whoever listens next


async def test_star_never_starts_a_number(tmp_path: Path) -> None:
    call = FakeCall(waits=["*", "2"])
    hops = await visit(menu(direct_dial=True), call, media=tmp_path)
    assert hops.to == [ALICE]
    # "*" is decided at once (invalid: a new round); "2" then waits for a second digit.
    assert call.waited == [5.0, 5.0, INTER_DIGIT_TIMEOUT]
    assert {"ivr": "main", "loop": 1, "invalid": "*"} in call.ivr_notes()


async def test_an_extension_typed_ahead_during_the_greeting(tmp_path: Path) -> None:
    call = FakeCall(during={"welcome": ["102"]})
    hops = await visit(menu(direct_dial=True), call, media=tmp_path, extensions=frozenset({"102"}))
    assert hops.to == [ToExtension(extension="102")]
    assert call.played == [("welcome", "1")]
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
    call = FakeCall(during={"welcome": ["1", ""], "please_hold": ["0", "2"]}, waits=["1"])
    env = FakeEnv(tmp_path)
    hops = Hops()

    async def goto(destination: DestinationModel) -> None:
        await hops(destination)
        if isinstance(destination, ToIvr):
            await run(cast(CallContext, call), cast(RoutingEnv, env), menus[destination.ivr], goto)

    await run(cast(CallContext, call), cast(RoutingEnv, env), menus["main"], goto)
    assert hops.to == [ToIvr(ivr="support"), ToIvr(ivr="main"), ToIvr(ivr="support"), ALICE]
    assert call.played == [
        ("welcome", "1"),
        ("please_hold", "0"),
        ("welcome", ""),
        ("please_hold", "2"),
    ]
    assert [step["ivr"] for step in call.ivr_notes() if "to" in step] == [
        "main",
        "support",
        "main",
        "support",
    ]


async def test_diversion_sends_every_call_on_without_answering(tmp_path: Path) -> None:
    call = FakeCall()
    hops = await visit(menu(diversion={"extension": "101"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert not call.answered
    assert call.played == []
    assert call.ivr_notes() == [{"ivr": "main", "diversion": "extension 101"}]


async def test_diversion_to_a_schedule_makes_the_menu_work_by_schedule(tmp_path: Path) -> None:
    call = FakeCall()
    hops = await visit(menu(diversion={"schedule": "office"}), call, media=tmp_path)
    assert hops.to == [ToSchedule(schedule="office")]
    assert call.played == []


# ------------------------------------------------------------------ where the greeting comes from


def write(path: Path, data: bytes = b"RIFF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def test_the_greeting_can_be_an_uploaded_file(tmp_path: Path) -> None:
    write(tmp_path / "greetings" / "main-upload.wav")
    call = FakeCall(during={"main-upload.wav": ["2"]})
    hops = await visit(menu(greeting={"file": "greetings/main-upload.wav"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert call.played == [("main-upload.wav", "2")]
    assert call.ivr_notes()[0]["greeting"] == "file greetings/main-upload.wav"


async def test_a_missing_uploaded_greeting_is_skipped_and_said_in_the_trace(
    tmp_path: Path,
) -> None:
    call = FakeCall(waits=["2"])
    hops = await visit(menu(greeting={"file": "greetings/gone.wav"}), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert call.played == []
    assert call.ivr_notes()[0]["greeting"] == "file greetings/gone.wav (missing)"


async def test_without_a_configured_greeting_the_one_recorded_by_phone_plays(
    tmp_path: Path,
) -> None:
    write(tmp_path / "greetings" / "ivr-main.wav")
    call = FakeCall(waits=["2"])
    hops = await visit(menu(greeting=None), call, media=tmp_path)
    assert hops.to == [ALICE]
    assert call.played == [("ivr-main.wav", "")]
    assert call.ivr_notes()[0]["greeting"] == "recorded by phone"


async def test_a_configured_greeting_wins_over_the_recorded_one(tmp_path: Path) -> None:
    write(tmp_path / "greetings" / "ivr-main.wav")
    call = FakeCall(waits=["2"])
    await visit(menu(), call, media=tmp_path)
    assert call.played == [("welcome", "")]


async def test_no_greeting_at_all_waits_for_a_key_at_once(tmp_path: Path) -> None:
    write(tmp_path / "greetings" / "ivr-other.wav")  # another menu's recording
    call = FakeCall(waits=["", "1"])
    hops = await visit(menu(greeting=None), call, media=tmp_path)
    assert hops.to == [SALES]
    assert call.played == []
    assert call.waited == [5.0, 5.0]
    assert call.ivr_notes()[0]["greeting"] == "none"
