"""Recording an IVR greeting by phone: record, listen, record again, save or give up.

The fake call scripts the administrator: ``takes`` are the successive recordings (what
``record`` writes and how it ended), ``menu_keys`` the key pressed at each review menu
("" none, None hangs up; keys during the menu prompt itself via ``during``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from centralita.media.prompts import LANGUAGES, PROMPTS
from centralita.routing.context import CallerHungUp
from centralita.routing.greeting import (
    MAX_SECONDS,
    MENU_TIMEOUT,
    SILENCE_SECONDS,
    record_greeting,
)
from tests.routing import fakes
from tests.routing.fakes import RECORDING, FakeCall, FakeEnv


def take(audio: bytes, ended_by: str = "digit", duration: float = 3.0) -> fakes.Take:
    return fakes.Take(duration, ended_by, audio)


def administrator(
    takes: list[fakes.Take],
    menu_keys: Sequence[str | None] = (),
    during: dict[str, list[str]] | None = None,
) -> FakeCall:
    call = FakeCall(caller="101", caller_name="Alice", service="*96500")
    call.script_recording(*takes).press_when_asked(*menu_keys)
    for label, keys in (during or {}).items():
        call.press_during(RECORDING if label == "recording" else label, *keys)
    return call


def played(call: FakeCall) -> list[str]:
    return ["recording" if isinstance(p.what, Path) else p.label for p in call.played]


def interruptions(call: FakeCall) -> list[tuple[str, str]]:
    """The playbacks a key interrupted (a key pressed during a prompt must interrupt it)."""
    labels = played(call)
    return [(labels[i], p.interrupted_by) for i, p in enumerate(call.played) if p.interrupted_by]


def heard_back(call: FakeCall) -> list[bytes]:
    """The recording as it was when played back."""
    return [p.content for p in call.played if p.content is not None]


def recorded(call: FakeCall) -> list[tuple[Path, float, float, bool]]:
    return [
        (args["path"], args["max_seconds"], args["silence_seconds"], args["beep"])
        for args in call.calls("record")
    ]


def played_as_asked(call: FakeCall) -> None:
    """Each prompt on its own, and the review menu's key read as the session reads it."""
    assert not any(isinstance(args["what"], list) for args in call.calls("play"))
    asked = [(a["max_digits"], a["timeout"], a["terminator"]) for a in call.calls("collect_digits")]
    assert all(ask == (1, MENU_TIMEOUT, "") for ask in asked)


def saved(media: Path) -> Path:
    return media / "greetings" / "ivr-main.wav"


async def session(call: FakeCall, media: Path) -> None:
    try:
        await record_greeting(call, FakeEnv(media_dir=media), "main")
    finally:
        played_as_asked(call)


def leftovers(media: Path) -> list[str]:
    return sorted(p.name for p in (media / "greetings").iterdir())


async def test_record_then_3_saves_it_for_the_menu(tmp_path: Path) -> None:
    call = administrator([take(b"hello")], ["3"])
    await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"hello"
    assert played(call) == ["record_greeting", "greeting_review", "greeting_saved"]
    assert call.hung_up
    assert leftovers(tmp_path) == ["ivr-main.wav"]  # no scratch file left behind
    path, max_seconds, silence, beep = recorded(call)[0]
    assert path.parent == saved(tmp_path).parent and path != saved(tmp_path)
    assert (max_seconds, silence, beep) == (MAX_SECONDS, SILENCE_SECONDS, True)
    assert {"node": "ivr_greeting_recording", "ivr": "main", "ending": "save"} in call.notes


async def test_listen_record_again_then_save_keeps_the_second_take(tmp_path: Path) -> None:
    call = administrator([take(b"first"), take(b"second")], ["1", "2", "3"])
    await session(call, tmp_path)
    assert heard_back(call) == [b"first"]
    assert saved(tmp_path).read_bytes() == b"second"
    assert played(call) == [
        "record_greeting",
        "greeting_review",
        "recording",
        "greeting_review",
        "record_greeting",
        "greeting_review",
        "greeting_saved",
    ]


async def test_a_key_during_the_playback_is_the_next_choice(tmp_path: Path) -> None:
    call = administrator([take(b"hello")], ["1"], during={"recording": ["3"]})
    await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"hello"
    assert played(call)[-3:] == ["greeting_review", "recording", "greeting_saved"]
    assert interruptions(call) == [("recording", "3")]


async def test_a_key_during_the_menu_prompt_is_taken_at_once(tmp_path: Path) -> None:
    call = administrator([take(b"hello")], [], during={"greeting_review": ["3"]})
    await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"hello"
    assert interruptions(call) == [("greeting_review", "3")]


async def test_hanging_up_at_the_menu_saves_nothing(tmp_path: Path) -> None:
    write_previous = saved(tmp_path)
    write_previous.parent.mkdir(parents=True)
    write_previous.write_bytes(b"previous")
    call = administrator([take(b"new")], ["1", None])
    with pytest.raises(CallerHungUp):
        await session(call, tmp_path)
    assert saved(tmp_path).read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["ivr-main.wav"]


async def test_hanging_up_while_recording_saves_nothing(tmp_path: Path) -> None:
    call = administrator([take(b"half", ended_by="hangup")])
    await session(call, tmp_path)
    assert not saved(tmp_path).exists()
    assert leftovers(tmp_path) == []
    assert played(call) == ["record_greeting"]
    assert not call.hung_up  # the caller already did


async def test_an_empty_recording_is_said_and_recorded_again(tmp_path: Path) -> None:
    call = administrator([take(b"", duration=0.0), take(b"hello")], ["3"])
    await session(call, tmp_path)
    assert played(call)[:3] == ["record_greeting", "nothing_recorded", "record_greeting"]
    assert saved(tmp_path).read_bytes() == b"hello"


async def test_no_key_at_three_menus_says_goodbye_and_saves_nothing(tmp_path: Path) -> None:
    call = administrator([take(b"hello")], ["", "9", ""])
    await session(call, tmp_path)
    assert not saved(tmp_path).exists()
    assert leftovers(tmp_path) == []
    assert played(call) == [
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
