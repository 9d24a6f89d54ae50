"""Recording an IVR greeting by phone: record, listen, record again, save or give up.

The fake call scripts the administrator: ``takes`` are the successive recordings (what
``record`` writes and how it ended), ``menu_keys`` the key pressed at each review menu
("" none, None hangs up; keys during the menu prompt itself via ``during``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from centralita.media.prompts import LANGUAGES, PROMPTS
from centralita.routing.context import CallContext, CallerHungUp, Playable, Recording
from centralita.routing.env import RoutingEnv
from centralita.routing.greeting import (
    MAX_SECONDS,
    MENU_TIMEOUT,
    SILENCE_SECONDS,
    record_greeting,
)


class Take:
    def __init__(self, audio: bytes, ended_by: str = "digit", duration: float = 3.0) -> None:
        self.audio = audio
        self.ended_by = ended_by
        self.duration = duration


class FakeCall:
    caller = "101"
    caller_name = "Alice"
    tenant = "acme"
    service = "*96500"
    language = "en"

    def __init__(
        self,
        takes: list[Take],
        menu_keys: Sequence[str | None] = (),
        during: dict[str, list[str]] | None = None,
    ) -> None:
        self.takes = list(takes)
        self.menu_keys = list(menu_keys)
        self.during = {label: list(keys) for label, keys in (during or {}).items()}
        self.played: list[str] = []
        self.heard_back: list[bytes] = []  # the recording as it was when played back
        self.recorded: list[tuple[Path, float, float, bool]] = []
        self.trace: list[dict[str, Any]] = []
        self.answered = False
        self.hung_up = False

    async def answer(self) -> None:
        self.answered = True

    async def hangup(self) -> None:
        self.hung_up = True

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        assert self.answered and not self.hung_up
        assert not isinstance(what, list)
        if isinstance(what, Path):
            self.heard_back.append(what.read_bytes())
            label = "recording"
        else:
            label = str(what)
        self.played.append(label)
        keys = self.during.get(label)
        key = keys.pop(0) if keys else ""
        assert not key or key in interrupt_on
        return key

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,
        *,
        terminator: str = "#",
        first_digit: str = "",
        inter_digit_timeout: float | None = None,
    ) -> str:
        assert (max_digits, timeout, terminator) == (1, MENU_TIMEOUT, "")
        key = self.menu_keys.pop(0) if self.menu_keys else ""
        if key is None:
            raise CallerHungUp()
        return key

    async def record(
        self, path: Path, *, max_seconds: float, silence_seconds: float, beep: bool = True
    ) -> Recording:
        take = self.takes.pop(0)
        self.recorded.append((path, max_seconds, silence_seconds, beep))
        path.write_bytes(take.audio)
        return Recording(path, take.duration, take.ended_by)

    def note(self, **fields: Any) -> None:
        self.trace.append(fields)


class FakeEnv:
    def __init__(self, media: Path) -> None:
        self.media = media

    def media_path(self, relative: str) -> Path:
        return self.media / relative


def saved(media: Path) -> Path:
    return media / "greetings" / "ivr-main.wav"


async def session(call: FakeCall, media: Path) -> None:
    await record_greeting(cast(CallContext, call), cast(RoutingEnv, FakeEnv(media)), "main")


def leftovers(media: Path) -> list[str]:
    return sorted(p.name for p in (media / "greetings").iterdir())


async def test_record_then_3_saves_it_for_the_menu(tmp_path: Path) -> None:
    call = FakeCall([Take(b"hello")], ["3"])
    await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"hello"
    assert call.played == ["record_greeting", "greeting_review", "greeting_saved"]
    assert call.hung_up
    assert leftovers(tmp_path) == ["ivr-main.wav"]  # no scratch file left behind
    path, max_seconds, silence, beep = call.recorded[0]
    assert path.parent == saved(tmp_path).parent and path != saved(tmp_path)
    assert (max_seconds, silence, beep) == (MAX_SECONDS, SILENCE_SECONDS, True)
    assert {"node": "ivr_greeting_recording", "ivr": "main", "ending": "save"} in call.trace


async def test_listen_record_again_then_save_keeps_the_second_take(tmp_path: Path) -> None:
    call = FakeCall([Take(b"first"), Take(b"second")], ["1", "2", "3"])
    await session(call, tmp_path)
    assert call.heard_back == [b"first"]
    assert saved(tmp_path).read_bytes() == b"second"
    assert call.played == [
        "record_greeting",
        "greeting_review",
        "recording",
        "greeting_review",
        "record_greeting",
        "greeting_review",
        "greeting_saved",
    ]


async def test_a_key_during_the_playback_is_the_next_choice(tmp_path: Path) -> None:
    call = FakeCall([Take(b"hello")], ["1"], during={"recording": ["3"]})
    await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"hello"
    assert call.played[-3:] == ["greeting_review", "recording", "greeting_saved"]


async def test_a_key_during_the_menu_prompt_is_taken_at_once(tmp_path: Path) -> None:
    call = FakeCall([Take(b"hello")], [], during={"greeting_review": ["3"]})
    await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"hello"


async def test_hanging_up_at_the_menu_saves_nothing(tmp_path: Path) -> None:
    write_previous = saved(tmp_path)
    write_previous.parent.mkdir(parents=True)
    write_previous.write_bytes(b"previous")
    call = FakeCall([Take(b"new")], ["1", None])
    with pytest.raises(CallerHungUp):
        await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["ivr-main.wav"]


async def test_hanging_up_while_recording_saves_nothing(tmp_path: Path) -> None:
    call = FakeCall([Take(b"half", ended_by="hangup")])
    await session(call, tmp_path)
    assert not saved(tmp_path).exists()
    assert leftovers(tmp_path) == []
    assert call.played == ["record_greeting"]
    assert not call.hung_up  # the caller already did


async def test_an_empty_recording_is_said_and_recorded_again(tmp_path: Path) -> None:
    call = FakeCall([Take(b"", duration=0.0), Take(b"hello")], ["3"])
    await session(call, tmp_path)
    assert call.played[:3] == ["record_greeting", "nothing_recorded", "record_greeting"]
    assert saved(tmp_path).read_bytes() == b"hello"


async def test_no_key_at_three_menus_says_goodbye_and_saves_nothing(tmp_path: Path) -> None:
    call = FakeCall([Take(b"hello")], ["", "9", ""])
    await session(call, tmp_path)
    assert not saved(tmp_path).exists()
    assert leftovers(tmp_path) == []
    assert call.played == [
        "record_greeting",
        "greeting_review",
        "greeting_review",
        "invalid_option",
        "greeting_review",
        "goodbye",
    ]
    assert call.hung_up


def test_every_prompt_the_session_plays_exists_in_every_language() -> None:
    names = ["record_greeting", "greeting_review", "greeting_saved", "nothing_recorded"]
    names += ["invalid_option", "goodbye"]
    for name in names:
        assert sorted(PROMPTS[name]) == sorted(LANGUAGES), name
