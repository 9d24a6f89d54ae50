"""Voicemail features with a scripted caller and an in-memory PBX: leaving a message (greeting
choice, skip, short messages, e-mail in the background) and the PIN menu by phone (listen,
replay, delete, keep, greeting recorded by phone)."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from centralita.config.dialplan import DialPlan
from centralita.config.dialplan_destinations import ToVoicemail
from centralita.media.prompts import PROMPTS
from centralita.media.wavfile import write_wav
from centralita.routing import voicemail
from centralita.routing.context import (
    CallerHungUp,
    DialResult,
    DialTarget,
    Playable,
    Recording,
)
from centralita.store.voicemail import VoicemailMessage

T0 = datetime(2026, 11, 22, 21, 5, tzinfo=UTC)
TENANT_PROMPTS = {"closed-notice"}  # a tenant's own prompt, configured as a greeting

# The caller's script, one entry per moment they could act:
FINISH = "~"  # let an interruptible prompt (or message) play to its end
TIMEOUT = "."  # press nothing when keys are awaited
# any other character: a key, taken by the first prompt it may interrupt or by a collect.
# An exhausted script at a collect means the caller hangs up.

PLAN = DialPlan.model_validate(
    {
        "extensions": [
            {"number": "101", "email": "alice@acme.test", "voicemail": {"pin": "1234"}},
            {
                "number": "102",
                "email": "bob@acme.test",
                "voicemail": {
                    "email": "bob.vm@acme.test",
                    "greeting": {"prompt": "closed-notice"},
                    "max_message_seconds": 60,
                },
            },
            {"number": "103", "voicemail": {}},
            {"number": "104", "email": "dave@acme.test"},
            {"number": "0105", "voicemail": {}},
        ],
        "voicemail_boxes": [
            {"name": "general", "email": "office@acme.test", "pin": "4321"},
            {"name": "support", "greeting": {"file": "greetings/support.wav"}},
        ],
    }
)


def tone(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * 8000)) / 8000
    write_wav(path, (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16))


class FakeCall:
    """A CallContext that follows a script and writes down what the caller heard."""

    tenant = "acme"
    service = "*97"
    language = "en"

    def __init__(
        self,
        keys: str = "",
        recordings: Iterable[tuple[float, str]] = (),
        *,
        caller: str = "+34600999888",
        caller_name: str = "Bob",
    ) -> None:
        self.caller = caller
        self.caller_name = caller_name
        self.keys = deque(keys)
        self.recordings = deque(recordings)  # (seconds of audio, ended_by)
        self.heard: list[str] = []
        self.notes: list[dict[str, Any]] = []
        self.recorded: list[tuple[Path, float]] = []  # (path, max_seconds)
        self._answered = False
        self.gone = False

    @property
    def answered(self) -> bool:
        return self._answered

    def _check(self) -> None:
        if self.gone:
            raise CallerHungUp()

    async def answer(self) -> None:
        self._check()
        self._answered = True
        self.heard.append("answer")

    async def hangup(self) -> None:
        self.heard.append("hangup")
        self.gone = True

    async def ring(self) -> None:
        raise AssertionError("voicemail does not ring")

    async def dial(
        self,
        targets: Sequence[DialTarget],
        timeout: float,
        *,
        caller_id: str | None = None,
        music: bool = False,
    ) -> DialResult:
        raise AssertionError("voicemail does not dial")

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        self._check()
        items = what if isinstance(what, list) else [what]
        self.heard.append("play " + ",".join(self._name(item) for item in items))
        if interrupt_on and self.keys and self.keys[0] == FINISH:
            self.keys.popleft()
        elif interrupt_on and self.keys and self.keys[0] in interrupt_on:
            return self.keys.popleft()
        return ""

    def _name(self, item: Playable) -> str:
        if isinstance(item, Path):
            assert item.is_file(), f"playing a missing file {item}"
            return f"file:{item.name}"
        assert isinstance(item, str), "voicemail plays prompts and files"
        assert item in PROMPTS or item in TENANT_PROMPTS, f"no such prompt {item!r}"
        return item

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,
        *,
        terminator: str = "#",
        first_digit: str = "",
        inter_digit_timeout: float | None = None,
    ) -> str:
        self._check()
        if terminator and first_digit == terminator:
            return ""
        digits = first_digit
        while len(digits) < max_digits:
            if not self.keys:
                self.heard.append("caller hangs up")
                self.gone = True
                raise CallerHungUp()
            key = self.keys.popleft()
            if key == TIMEOUT or (terminator and key == terminator):
                break
            digits += key
        self.heard.append(f"keys {digits}")
        return digits

    async def say_number(self, number: int, language: str | None = None) -> str:
        self._check()
        self.heard.append(f"say {number}")
        return ""

    async def record(
        self, path: Path, *, max_seconds: float, silence_seconds: float, beep: bool = True
    ) -> Recording:
        self._check()
        assert beep and silence_seconds == voicemail.SILENCE_SECONDS
        seconds, ended_by = self.recordings.popleft()
        tone(path, seconds)
        self.heard.append(f"record {ended_by}")
        self.recorded.append((path, max_seconds))
        if ended_by == "hangup":
            self.gone = True
        return Recording(path, seconds, ended_by)

    async def music_on_hold(self, music_class: str = "default") -> None:
        raise AssertionError("no music in voicemail")

    async def echo(self) -> None:
        raise AssertionError("no echo in voicemail")

    async def join_conference(
        self,
        room: str,
        *,
        muted: bool = False,
        moderator: bool = False,
        max_members: int | None = None,
        join_tones: bool = True,
        muted_until_moderator: bool = False,
        record: Path | None = None,
    ) -> None:
        raise AssertionError("no conference in voicemail")

    def status_for(self, extension: str, status: str, answered_by: str | None = None) -> None:
        raise AssertionError("voicemail sets no call-log status")

    def note(self, **fields: Any) -> None:
        self.notes.append(fields)

    def steps(self) -> list[str]:
        return [str(n["step"]) for n in self.notes if "step" in n]


class FakeEnv:
    """The PBX as voicemail sees it: boxes kept in memory, files under ``root``."""

    tenant_id = 1
    tenant_name = "acme"
    domain = "acme.test"

    def __init__(self, root: Path, plan: DialPlan = PLAN) -> None:
        self.plan = plan
        self.root = root
        self.stored: dict[str, VoicemailMessage] = {}
        self.changes: list[str] = []  # what the features asked, in order
        self.emails: list[tuple[str, list[str]]] = []
        self.email_error: Exception | None = None
        self.release_email: asyncio.Event | None = None  # when set: e-mail waits for it

    def now(self) -> datetime:
        return T0

    def extension_exists(self, number: str) -> bool:
        return self.plan.extension(number) is not None

    def extension_name(self, number: str) -> str:
        return ""

    def is_registered(self, number: str) -> bool:
        raise AssertionError("voicemail does not look at phones")

    def is_busy(self, number: str) -> bool:
        raise AssertionError("voicemail does not look at phones")

    def dnd(self, number: str) -> bool:
        raise AssertionError("voicemail does not look at do-not-disturb")

    async def set_dnd(self, number: str, on: bool) -> None:
        raise AssertionError("voicemail does not set do-not-disturb")

    def forward_override(self, number: str) -> str | None:
        raise AssertionError("voicemail does not forward")

    async def set_forward_override(self, number: str, target: str | None) -> None:
        raise AssertionError("voicemail does not forward")

    def company_number(self) -> str | None:
        return None

    def media_path(self, relative: str) -> Path:
        return self.root / "media" / relative

    def recording_path(self, kind: str, name: str) -> Path:
        return self.root / "recordings" / kind / name

    def message(self, box: str, seconds: float, *, heard: bool = False) -> VoicemailMessage:
        """A message already in a box."""
        message_id = f"m{len(self.stored) + 1}"
        path = self.root / "boxes" / box / f"{message_id}.wav"
        tone(path, seconds)
        found = VoicemailMessage(
            id=message_id,
            tenant_id=1,
            box=box,
            caller="+34600111222",
            received_at=T0,
            duration=seconds,
            path=str(path),
            heard=heard,
        )
        self.stored[message_id] = found
        return found

    async def voicemail_filed(
        self, box: str, recording: Path, *, caller: str, caller_name: str, duration: float
    ) -> VoicemailMessage:
        message = self.message(box, 0.1)
        shutil.move(recording, message.path)
        filed = replace(message, caller=caller, caller_name=caller_name, duration=duration)
        self.stored[filed.id] = filed
        self.changes.append(f"filed {filed.id} in {box}")
        return filed

    async def voicemail_messages(self, box: str) -> list[VoicemailMessage]:
        return [m for m in self.stored.values() if m.box == box and not m.deleted]

    async def voicemail_mark_heard(self, message_id: str) -> None:
        self.stored[message_id] = replace(self.stored[message_id], heard=True)
        self.changes.append(f"heard {message_id}")

    async def voicemail_delete(self, message_id: str) -> None:
        self.stored[message_id] = replace(self.stored[message_id], deleted=True)
        self.changes.append(f"deleted {message_id}")

    async def email_voicemail(self, message: VoicemailMessage, recipients: list[str]) -> None:
        if self.release_email is not None:
            await self.release_email.wait()
        self.emails.append((message.id, recipients))
        if self.email_error is not None:
            raise self.email_error


@pytest.fixture
def env(tmp_path: Path) -> FakeEnv:
    return FakeEnv(tmp_path)


async def leave(env: FakeEnv, call: FakeCall, box: str) -> None:
    await voicemail.deposit(call, env, ToVoicemail(voicemail=box))
    await voicemail.emails_sent()


async def menu(env: FakeEnv, call: FakeCall, box: str | None) -> None:
    await voicemail.access(call, env, box)


# ---------------------------------------------------------------- leaving a message


async def test_a_users_box_says_the_number_records_files_and_emails(env: FakeEnv) -> None:
    call = FakeCall(recordings=[(4.2, "dtmf")])
    await leave(env, call, "101")
    assert call.heard == [
        "answer",
        "play vm_person_at_extension",
        "say 101",
        "play vm_is_unavailable,leave_message",
        "record dtmf",
        "play message_saved,goodbye",
        "hangup",
    ]
    [message] = env.stored.values()
    assert (message.box, message.caller, message.caller_name) == ("101", "+34600999888", "Bob")
    assert message.duration == 4.2 and Path(message.path).is_file()
    assert call.recorded[0][1] == 180  # the box's default maximum length
    assert not call.recorded[0][0].exists()  # moved into the box
    # no e-mail of the box's own: the extension's address
    assert env.emails == [(message.id, ["alice@acme.test"])]
    assert call.steps() == ["answered", "greeting", "recorded", "filed", "e-mail"]
    assert call.notes[1]["greeting"] == "default"


async def test_hanging_up_is_how_most_callers_finish_and_the_message_is_kept(
    env: FakeEnv,
) -> None:
    call = FakeCall(recordings=[(12.0, "hangup")])
    await leave(env, call, "101")
    assert call.heard[-1] == "record hangup"
    [message] = env.stored.values()
    assert message.duration == 12.0
    assert env.changes == [f"filed {message.id} in 101"]
    assert env.emails == [(message.id, ["alice@acme.test"])]


async def test_pound_skips_the_greeting(env: FakeEnv) -> None:
    call = FakeCall("#", recordings=[(3.0, "silence")])
    await leave(env, call, "101")
    assert call.heard[:4] == ["answer", "play vm_person_at_extension", "record silence",
                              "play message_saved,goodbye"]  # fmt: skip
    assert "greeting skipped" in call.steps()


async def test_pound_typed_while_the_number_is_said_skips_the_rest(env: FakeEnv) -> None:
    call = FakeCall(FINISH + "#", recordings=[(3.0, "dtmf")])
    await leave(env, call, "101")
    assert call.heard[1:5] == [
        "play vm_person_at_extension",
        "say 101",
        "play vm_is_unavailable,leave_message",
        "record dtmf",
    ]
    assert "greeting skipped" in call.steps()


async def test_an_extension_with_a_leading_zero_is_said_digit_by_digit(env: FakeEnv) -> None:
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, call, "0105")
    assert call.heard[2] == "play digit_0,digit_1,digit_0,digit_5"
    assert env.emails == []  # neither the box nor the extension has an address


async def test_a_configured_greeting_its_own_email_and_length(env: FakeEnv) -> None:
    call = FakeCall(recordings=[(8.0, "max_length")])
    await leave(env, call, "102")
    assert call.heard[:3] == ["answer", "play closed-notice", "record max_length"]
    assert call.recorded[0][1] == 60
    [message] = env.stored.values()
    assert env.emails == [(message.id, ["bob.vm@acme.test"])]  # the box's, not bob@
    assert call.notes[1]["greeting"] == "configured"


async def test_the_greeting_recorded_by_phone_is_played(env: FakeEnv) -> None:
    tone(env.media_path("voicemail/103/greeting.wav"), 2.0)
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, call, "103")
    assert call.heard[:3] == ["answer", "play file:greeting.wav", "record dtmf"]
    assert call.notes[1]["greeting"] == "recorded"


async def test_a_configured_greeting_wins_over_the_recorded_one(env: FakeEnv) -> None:
    tone(env.media_path("voicemail/102/greeting.wav"), 2.0)
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, call, "102")
    assert call.heard[1] == "play closed-notice"


async def test_a_shared_box_asks_for_the_message_and_mails_its_address(env: FakeEnv) -> None:
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, call, "general")
    assert call.heard[:3] == ["answer", "play leave_message", "record dtmf"]
    [message] = env.stored.values()
    assert message.box == "general"
    assert env.emails == [(message.id, ["office@acme.test"])]


async def test_a_shared_boxs_uploaded_greeting(env: FakeEnv) -> None:
    tone(env.media_path("greetings/support.wav"), 2.0)
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, call, "support")
    assert call.heard[1] == "play file:support.wav"


async def test_a_missing_uploaded_greeting_falls_back_to_the_system_one(env: FakeEnv) -> None:
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, call, "support")
    assert call.heard[1] == "play leave_message"
    assert {"node": "voicemail", "box": "support", "greeting_missing": "greetings/support.wav"} in (
        call.notes
    )


async def test_a_message_under_a_second_is_discarded(env: FakeEnv) -> None:
    call = FakeCall(recordings=[(0.4, "dtmf")])
    await leave(env, call, "101")
    assert call.heard[-3:] == ["record dtmf", "play nothing_recorded,goodbye", "hangup"]
    assert env.stored == {} and env.emails == []
    assert not call.recorded[0][0].exists()
    assert call.steps()[-1] == "discarded"


async def test_hanging_up_on_the_greeting_leaves_no_message(env: FakeEnv) -> None:
    call = FakeCall(recordings=[(0.0, "hangup")])
    await leave(env, call, "general")
    assert call.heard[-1] == "record hangup"  # nothing played to a caller who left
    assert env.stored == {} and not call.recorded[0][0].exists()


@pytest.mark.parametrize("box", ["104", "sales"])
async def test_no_such_box_hangs_up(env: FakeEnv, box: str) -> None:
    call = FakeCall()
    await leave(env, call, box)
    assert call.heard == ["hangup"]
    assert call.notes == [{"node": "voicemail", "box": box, "result": "no such box"}]


async def test_the_caller_never_waits_for_the_email(env: FakeEnv) -> None:
    env.release_email = asyncio.Event()
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await voicemail.deposit(call, env, ToVoicemail(voicemail="101"))
    assert call.heard[-1] == "hangup" and env.emails == []  # the call is over, mail pending
    env.release_email.set()
    await voicemail.emails_sent()
    assert env.emails == [(next(iter(env.stored)), ["alice@acme.test"])]


async def test_a_failed_email_is_logged_and_the_caller_hears_it_saved(
    env: FakeEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env.email_error = RuntimeError("smtp exploded")
    call = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, call, "101")
    assert "play message_saved,goodbye" in call.heard
    [message_id] = env.stored
    assert f"voicemail {message_id} (box 101) not e-mailed" in caplog.text
    assert "smtp exploded" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)


# ---------------------------------------------------------------- listening by phone


async def test_owner_listens_keeps_deletes_and_leaves(env: FakeEnv) -> None:
    old = env.message("101", 2.0, heard=True)
    first = env.message("101", 3.0)
    second = env.message("101", 4.0)
    # PIN; first plays to its end then 9 (keep) at the menu; 7 during the second; # on the old.
    call = FakeCall("1234#" + FINISH + "9" + "7" + "#", caller="101")
    await menu(env, call, "101")
    assert call.heard == [
        "answer",
        "play enter_pin",
        "keys 1234",
        "play vm_new_messages",
        "say 2",
        "play vm_message_number",
        "say 1",
        f"play file:{first.id}.wav",
        "play vm_message_menu",
        "play vm_message_number",
        "say 2",
        f"play file:{second.id}.wav",
        "play vm_message_deleted",
        "play vm_message_number",
        "say 3",
        f"play file:{old.id}.wav",
        "play goodbye",
        "hangup",
    ]
    assert env.changes == [f"heard {first.id}", f"heard {second.id}", f"deleted {second.id}"]
    assert [n["result"] for n in call.notes if "result" in n] == ["opened"]


async def test_one_replays_and_the_end_of_the_list_offers_the_main_menu(env: FakeEnv) -> None:
    only = env.message("101", 3.0)
    call = FakeCall("1234#" + "1" + "2" + "#", caller="101")
    await menu(env, call, "101")
    plays = [h for h in call.heard if h.startswith("play file:")]
    assert plays == [f"play file:{only.id}.wav"] * 2
    assert env.changes == [f"heard {only.id}"]  # marked once
    assert call.heard[-4:] == [
        "play vm_no_more_messages",
        "play vm_main_menu",
        "play goodbye",
        "hangup",
    ]


async def test_a_wrong_pin_three_times_is_refused(env: FakeEnv) -> None:
    env.message("101", 3.0)
    call = FakeCall("1111#2222#3333#", caller="101")
    await menu(env, call, "101")
    assert call.heard.count("play enter_pin") == 3
    assert call.heard[-2:] == ["play vm_wrong_pin,goodbye", "hangup"]
    assert call.heard.count("play vm_wrong_pin") == 2  # between attempts
    assert [n["attempt"] for n in call.notes if "attempt" in n] == [1, 2, 3]
    assert env.changes == [] and "play vm_new_messages" not in call.heard


async def test_the_pin_on_the_second_attempt(env: FakeEnv) -> None:
    call = FakeCall("9999#1234#" + "#", caller="101")
    await menu(env, call, "101")
    assert call.heard.count("play enter_pin") == 2
    assert "play vm_no_new_messages" in call.heard
    assert call.notes[-1] == {"node": "voicemail_access", "box": "101", "new": 0, "old": 0}


async def test_own_phone_opens_a_box_without_pin(env: FakeEnv) -> None:
    env.message("103", 3.0, heard=True)
    call = FakeCall(FINISH + "#", caller="103")
    await menu(env, call, "103")
    assert "play enter_pin" not in call.heard
    assert call.heard[1:5] == [
        "play vm_no_new_messages",
        "play vm_message_number",
        "say 1",
        "play file:m1.wav",
    ]
    assert env.changes == []  # already heard


async def test_a_box_without_pin_is_closed_to_other_phones(env: FakeEnv) -> None:
    env.message("103", 3.0)
    call = FakeCall("103#" + "1#2#3#", caller="101")
    await menu(env, call, None)
    assert call.heard[:3] == ["answer", "play vm_enter_box", "keys 103"]
    assert call.heard.count("play enter_pin") == 3
    assert call.heard[-2:] == ["play vm_wrong_pin,goodbye", "hangup"]
    assert env.changes == []


async def test_an_unknown_box_sounds_like_a_wrong_pin(env: FakeEnv) -> None:
    unknown, wrong = FakeCall("999#1#2#3#"), FakeCall("101#1#2#3#")
    await menu(env, unknown, None)
    await menu(env, wrong, None)
    assert unknown.heard[3:] == wrong.heard[3:]  # after the box number, the same call


async def test_the_box_number_typed_then_the_pin(env: FakeEnv) -> None:
    env.message("101", 3.0)
    call = FakeCall("101#1234#" + "#")
    await menu(env, call, None)
    assert call.heard[1:6] == [
        "play vm_enter_box",
        "keys 101",
        "play enter_pin",
        "keys 1234",
        "play vm_new_messages",
    ]


async def test_a_shared_box_named_by_the_pbx_needs_its_pin(env: FakeEnv) -> None:
    env.message("general", 3.0)
    call = FakeCall("4321#" + "7" + "#", caller="101")
    await menu(env, call, "general")
    assert env.changes == ["heard m1", "deleted m1"]


async def test_own_phone_without_a_box_is_told_so(env: FakeEnv) -> None:
    call = FakeCall(caller="104")
    await menu(env, call, "104")
    assert call.heard == ["answer", "play vm_no_mailbox,goodbye", "hangup"]


async def test_silence_at_the_menu_ends_the_call_and_a_wrong_key_is_said(env: FakeEnv) -> None:
    env.message("101", 3.0)
    call = FakeCall("1234#" + "5" + TIMEOUT * 3, caller="101")
    await menu(env, call, "101")
    assert call.heard[-9:] == [
        "play invalid_option",
        *["play vm_message_menu", "keys "] * 3,
        "play goodbye",
        "hangup",
    ]
    assert env.changes == ["heard m1"]


async def test_hanging_up_in_the_menu_propagates(env: FakeEnv) -> None:
    env.message("101", 3.0)
    call = FakeCall("1234#" + FINISH, caller="101")
    with pytest.raises(CallerHungUp):
        await menu(env, call, "101")
    assert env.changes == ["heard m1"]


# ---------------------------------------------------------------- the greeting, by phone


async def test_recording_listening_to_and_saving_a_greeting(env: FakeEnv) -> None:
    call = FakeCall(
        "1234#" + "0" + "1" + FINISH + "3" + "#", recordings=[(3.0, "dtmf")], caller="101"
    )
    await menu(env, call, "101")
    assert call.heard[4:13] == [
        "play vm_main_menu",
        "play record_greeting",
        "record dtmf",
        "play greeting_review",
        "play file:" + call.recorded[0][0].name,
        "play greeting_review",
        "play greeting_saved",
        "play vm_main_menu",
        "play goodbye",
    ]
    greeting = env.media_path("voicemail/101/greeting.wav")
    assert greeting.is_file() and not call.recorded[0][0].exists()
    assert call.recorded[0][0].parent == greeting.parent  # atomic replace: same folder
    # the next caller hears it
    caller = FakeCall(recordings=[(3.0, "dtmf")])
    await leave(env, caller, "101")
    assert caller.heard[1] == "play file:greeting.wav"


async def test_recording_again_then_saving_keeps_the_second_take(env: FakeEnv) -> None:
    call = FakeCall(
        "1234#" + "0" + "2" + "3" + "#",
        recordings=[(2.0, "dtmf"), (5.0, "dtmf")],
        caller="101",
    )
    await menu(env, call, "101")
    assert call.heard.count("record dtmf") == 2
    greeting = env.media_path("voicemail/101/greeting.wav")
    assert greeting.stat().st_size > 5.0 * 8000 * 2  # 16-bit samples of the second take
    assert [p for p in greeting.parent.iterdir()] == [greeting]


async def test_an_empty_take_is_said_and_asked_again(env: FakeEnv) -> None:
    call = FakeCall("1234#" + "0" + "3" + "#", recordings=[(0.2, "dtmf"), (3.0, "dtmf")],
                    caller="101")  # fmt: skip
    await menu(env, call, "101")
    assert "play nothing_recorded" in call.heard
    assert env.media_path("voicemail/101/greeting.wav").is_file()


async def test_giving_up_on_a_greeting_keeps_the_old_one_and_no_draft(env: FakeEnv) -> None:
    greeting = env.media_path("voicemail/101/greeting.wav")
    tone(greeting, 1.5)
    before = greeting.read_bytes()
    call = FakeCall("1234#" + "0" + "#" + "#", recordings=[(3.0, "dtmf")], caller="101")
    await menu(env, call, "101")
    assert greeting.read_bytes() == before
    assert [p.name for p in greeting.parent.iterdir()] == ["greeting.wav"]
    assert "greeting not saved" in call.steps()


async def test_hanging_up_while_recording_the_greeting_leaves_nothing(env: FakeEnv) -> None:
    call = FakeCall("1234#" + "0", recordings=[(3.0, "hangup")], caller="101")
    with pytest.raises(CallerHungUp):
        await menu(env, call, "101")
    folder = env.media_path("voicemail/101")
    assert list(folder.iterdir()) == []


def test_every_prompt_has_the_three_languages() -> None:
    names = [name for name in PROMPTS if name.startswith("vm_")]
    assert len(names) >= 10
    for name in names:
        assert set(PROMPTS[name]) == {"en", "es", "ru"}, name
        assert all(PROMPTS[name].values()), name
