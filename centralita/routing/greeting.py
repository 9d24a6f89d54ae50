"""IVR greetings: which audio a menu plays, and recording one by phone.

A menu's greeting is the configured one (a system or tenant prompt by name, or an uploaded
WAV in the tenant's media folder) or, when none is configured, the one the administrator
recorded by phone, kept at ``greetings/ivr-<menu>.wav`` in the media folder. A menu with
neither plays nothing and waits for a key at once. A configured file that is missing is
skipped (and the trace says so) rather than failing the call.

Recording by phone (:func:`record_greeting`, issue 4 "IVR menus"): Centralita calls the
administrator's phone and runs this feature on the call. Theory of operation, two states:

- RECORD: the instructions, a beep, then the recording (at most ``MAX_SECONDS``;
  ``SILENCE_SECONDS`` of silence or ``#`` end it) into a scratch file next to the final one.
  An empty recording (``#`` pressed at once) is said so and recorded again.
- REVIEW: "1 listen, 2 record again, 3 save". 1 plays the recording back (a menu key
  interrupts it and is taken as the next choice), 2 goes back to RECORD, 3 moves the scratch
  file into place with ``os.replace`` (same folder, so the same file system: atomic, a menu
  never plays half a file), says so and hangs up. ``MAX_WASTED_ROUNDS`` menus in a row with
  no key or a wrong one: goodbye, hang up, nothing saved.

Hanging up anywhere before 3 saves nothing: the scratch file is removed on every way out.
A hang-up seen by a verb raises CallerHungUp, which propagates to the runner as from any
feature; one seen by ``record`` (which reports it as ``ended_by="hangup"``) just returns.
"""

from __future__ import annotations

import enum
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from centralita.config.dialplan import Greeting
from centralita.routing.context import CallContext, Playable
from centralita.routing.env import RoutingEnv

RECORDED_GREETING = "greetings/ivr-{name}.wav"  # relative to the tenant's media folder
MAX_SECONDS = 120.0
SILENCE_SECONDS = 5.0
MENU_TIMEOUT = 10.0  # seconds to wait for a key after the review menu
MAX_WASTED_ROUNDS = 3
REVIEW_KEYS = "123"
LISTEN, RECORD_AGAIN, SAVE = "1", "2", "3"
NODE = "ivr_greeting_recording"


@dataclass(frozen=True, slots=True)
class MenuGreeting:
    """What a menu plays first (None: nothing) and, for the trace, where it comes from."""

    audio: Playable | None
    source: str


def recorded_greeting_path(env: RoutingEnv, name: str) -> Path:
    """Where the greeting recorded by phone for menu ``name`` is kept."""
    return env.media_path(RECORDED_GREETING.format(name=name))


def playable(env: RoutingEnv, greeting: Greeting) -> Playable | None:
    """A configured greeting as something to play; None for an uploaded file that is gone."""
    if greeting.prompt is not None:
        return greeting.prompt
    assert greeting.file is not None  # the model holds exactly one of prompt and file
    path = env.media_path(greeting.file)
    return path if path.is_file() else None


def describe_greeting(greeting: Greeting) -> str:
    return f"prompt {greeting.prompt}" if greeting.prompt else f"file {greeting.file}"


def menu_greeting(env: RoutingEnv, name: str, greeting: Greeting | None) -> MenuGreeting:
    """The greeting menu ``name`` plays: the configured one, else the one recorded by phone."""
    if greeting is not None:
        audio = playable(env, greeting)
        source = describe_greeting(greeting)
        return MenuGreeting(audio, source if audio is not None else f"{source} (missing)")
    recorded = recorded_greeting_path(env, name)
    if recorded.is_file():
        return MenuGreeting(recorded, "recorded by phone")
    return MenuGreeting(None, "none")


# ------------------------------------------------------------------ recording by phone


class _Ending(enum.Enum):
    SAVE = "save"
    GIVE_UP = "give_up"  # no usable key or recording: say goodbye
    HUNG_UP = "hung_up"  # the recording saw the caller go


async def record_greeting(call: CallContext, env: RoutingEnv, name: str) -> None:
    """Let the administrator on ``call`` record the greeting of IVR menu ``name``."""
    target = recorded_greeting_path(env, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    await call.answer()
    call.note(node=NODE, ivr=name, target=str(target))
    handle, scratch_name = tempfile.mkstemp(
        prefix=f".ivr-{name}-", suffix=".wav", dir=target.parent
    )
    os.close(handle)
    scratch = Path(scratch_name)
    try:
        ending = await _session(call, name, scratch)
        call.note(node=NODE, ivr=name, ending=ending.value)
        if ending is _Ending.SAVE:
            os.replace(scratch, target)
            await call.play("greeting_saved")
        if ending is not _Ending.HUNG_UP:
            if ending is _Ending.GIVE_UP:
                await call.play("goodbye")
            await call.hangup()
    finally:
        scratch.unlink(missing_ok=True)


async def _session(call: CallContext, name: str, scratch: Path) -> _Ending:
    recorded = await _record(call, name, scratch)
    if recorded is not None:
        return recorded
    pending = ""
    wasted = 0
    while wasted < MAX_WASTED_ROUNDS:
        key = pending or await _ask(call)
        pending = ""
        call.note(node=NODE, ivr=name, key=key or None)
        if key == SAVE:
            return _Ending.SAVE
        if key == LISTEN:
            pending = await call.play(scratch, interrupt_on=REVIEW_KEYS)
            wasted = 0
        elif key == RECORD_AGAIN:
            recorded = await _record(call, name, scratch)
            if recorded is not None:
                return recorded
            wasted = 0
        else:
            wasted += 1
            if key:
                await call.play("invalid_option")
    return _Ending.GIVE_UP


async def _ask(call: CallContext) -> str:
    key = await call.play("greeting_review", interrupt_on=REVIEW_KEYS)
    return key or await call.collect_digits(1, MENU_TIMEOUT, terminator="")


async def _record(call: CallContext, name: str, scratch: Path) -> _Ending | None:
    """Record into ``scratch``; None when there is a recording to review, else how it ended."""
    for _ in range(MAX_WASTED_ROUNDS):
        await call.play("record_greeting")
        recording = await call.record(
            scratch, max_seconds=MAX_SECONDS, silence_seconds=SILENCE_SECONDS
        )
        call.note(
            node=NODE, ivr=name, recorded=round(recording.duration, 1), ended_by=recording.ended_by
        )
        if recording.ended_by == "hangup":
            return _Ending.HUNG_UP
        if recording.duration > 0:
            return None
        await call.play("nothing_recorded")
    return _Ending.GIVE_UP
