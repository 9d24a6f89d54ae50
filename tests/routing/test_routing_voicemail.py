"""Voicemail features with a scripted caller and an in-memory PBX: leaving a message (greeting
choice, skip, short messages, e-mail in the background) and the PIN menu by phone (listen,
replay, delete, keep, greeting recorded by phone)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from centralita.config.dialplan import DialPlan
from centralita.config.dialplan_destinations import ToVoicemail
from centralita.media.prompts import PROMPTS
from centralita.media.wavfile import write_wav
from centralita.routing import voicemail
from centralita.routing.context import CallerHungUp
from tests.routing.fakes import FINISH, TIMEOUT, FakeCall, FakeEnv, Take

T0 = datetime(2026, 11, 22, 21, 5, tzinfo=UTC)
TENANT_PROMPTS = {"closed-notice"}  # a tenant's own prompt, configured as a greeting

# The caller's script, one entry per moment they could act: FINISH lets an interruptible
# prompt (or message) play to its end, TIMEOUT presses nothing when keys are awaited, any
# other character is a key, taken by the first prompt it may interrupt or by a collect. An
# exhausted script at a collect means the caller hangs up (tests/routing/fakes.py).

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


NOT_VOICEMAIL = {  # what voicemail never does, with the call or with the PBX
    "ring",
    "dial",
    "music_on_hold",
    "echo",
    "join_conference",
    "status_for",
    "is_registered",
    "is_busy",
    "dnd",
    "set_dnd",
    "forward_override",
    "set_forward_override",
}


def scripted(
    keys: str = "",
    recordings: Iterable[tuple[float, str]] = (),
    *,
    caller: str = "+34600999888",
    caller_name: str = "Bob",
) -> FakeCall:
    """A caller who follows the script ``keys`` and whose messages last and end as
    ``recordings`` say; what it heard is in ``call.transcript``."""
    call = FakeCall(
        caller=caller,
        caller_name=caller_name,
        service="*97",
        hangs_up_when_out_of_keys=True,
        known_prompts=PROMPTS.keys() | TENANT_PROMPTS,
        check_files=True,
    )
    call.press(keys)
    return call.script_recording(*(Take(seconds, ended_by) for seconds, ended_by in recordings))


def recorded(call: FakeCall) -> list[tuple[Path, float]]:
    """(path, max_seconds) of each recording."""
    return [(args["path"], args["max_seconds"]) for args in call.calls("record")]


def steps(call: FakeCall) -> list[str]:
    return [str(n["step"]) for n in call.notes if "step" in n]


def changes(env: FakeEnv) -> list[str]:
    """What the features asked of the boxes, in order."""
    shown = {"filed": "filed {0} in {1}", "heard": "heard {0}", "deleted": "deleted {0}"}
    return [shown[kind].format(key, value) for kind, key, value in env.changes if kind in shown]


def emails(env: FakeEnv) -> list[tuple[str, list[str]]]:
    return [(message.id, recipients) for message, recipients in env.emails]


def only_voicemail(call: FakeCall, env: FakeEnv) -> None:
    """Voicemail plays prompts and files, records with the beep and its own silence, and
    does nothing else with the call or the PBX."""
    assert not NOT_VOICEMAIL & {verb.name for verb in call.verbs + env.journal}
    for args in call.calls("play"):
        what = args["what"]
        assert all(
            isinstance(item, str | Path) for item in (what if isinstance(what, list) else [what])
        )
    assert all(
        a["beep"] and a["silence_seconds"] == voicemail.SILENCE_SECONDS
        for a in call.calls("record")
    )


@pytest.fixture
def env(tmp_path: Path) -> FakeEnv:
    return FakeEnv(PLAN, now=T0, media_dir=tmp_path / "media")


async def leave(env: FakeEnv, call: FakeCall, box: str) -> None:
    try:
        await voicemail.deposit(call, env, ToVoicemail(voicemail=box))
        await voicemail.emails_sent()
    finally:
        only_voicemail(call, env)


async def menu(env: FakeEnv, call: FakeCall, box: str | None) -> None:
    try:
        await voicemail.access(call, env, box)
    finally:
        only_voicemail(call, env)


# ---------------------------------------------------------------- leaving a message


async def test_a_users_box_says_the_number_records_files_and_emails(env: FakeEnv) -> None:
    call = scripted(recordings=[(4.2, "dtmf")])
    await leave(env, call, "101")
    assert call.transcript == [
        "answer",
        "play vm_person_at_extension",
        "say 101",
        "play vm_is_unavailable,leave_message",
        "record dtmf",
        "play message_saved,goodbye",
        "hangup",
    ]
    [message] = env.messages.values()
    assert (message.box, message.caller, message.caller_name) == ("101", "+34600999888", "Bob")
    assert message.duration == 4.2 and Path(message.path).is_file()
    assert recorded(call)[0][1] == 180  # the box's default maximum length
    assert not recorded(call)[0][0].exists()  # moved into the box
    # no e-mail of the box's own: the extension's address
    assert emails(env) == [(message.id, ["alice@acme.test"])]
    assert steps(call) == ["answered", "greeting", "recorded", "filed", "e-mail"]
    assert call.notes[1]["greeting"] == "default"


async def test_hanging_up_is_how_most_callers_finish_and_the_message_is_kept(
    env: FakeEnv,
) -> None:
    call = scripted(recordings=[(12.0, "hangup")])
    await leave(env, call, "101")
    assert call.transcript[-1] == "record hangup"
    [message] = env.messages.values()
    assert message.duration == 12.0
    assert changes(env) == [f"filed {message.id} in 101"]
    assert emails(env) == [(message.id, ["alice@acme.test"])]


async def test_pound_skips_the_greeting(env: FakeEnv) -> None:
    call = scripted("#", recordings=[(3.0, "silence")])
    await leave(env, call, "101")
    assert call.transcript[:4] == ["answer", "play vm_person_at_extension", "record silence",
                              "play message_saved,goodbye"]  # fmt: skip
    assert "greeting skipped" in steps(call)


async def test_pound_typed_while_the_number_is_said_skips_the_rest(env: FakeEnv) -> None:
    call = scripted(FINISH + "#", recordings=[(3.0, "dtmf")])
    await leave(env, call, "101")
    assert call.transcript[1:5] == [
        "play vm_person_at_extension",
        "say 101",
        "play vm_is_unavailable,leave_message",
        "record dtmf",
    ]
    assert "greeting skipped" in steps(call)


async def test_an_extension_with_a_leading_zero_is_said_digit_by_digit(env: FakeEnv) -> None:
    call = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, call, "0105")
    assert call.transcript[2] == "play digit_0,digit_1,digit_0,digit_5"
    assert emails(env) == []  # neither the box nor the extension has an address


async def test_a_configured_greeting_its_own_email_and_length(env: FakeEnv) -> None:
    call = scripted(recordings=[(8.0, "max_length")])
    await leave(env, call, "102")
    assert call.transcript[:3] == ["answer", "play closed-notice", "record max_length"]
    assert recorded(call)[0][1] == 60
    [message] = env.messages.values()
    assert emails(env) == [(message.id, ["bob.vm@acme.test"])]  # the box's, not bob@
    assert call.notes[1]["greeting"] == "configured"


async def test_the_greeting_recorded_by_phone_is_played(env: FakeEnv) -> None:
    tone(env.media_path("voicemail/103/greeting.wav"), 2.0)
    call = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, call, "103")
    assert call.transcript[:3] == ["answer", "play file:greeting.wav", "record dtmf"]
    assert call.notes[1]["greeting"] == "recorded"


async def test_a_configured_greeting_wins_over_the_recorded_one(env: FakeEnv) -> None:
    tone(env.media_path("voicemail/102/greeting.wav"), 2.0)
    call = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, call, "102")
    assert call.transcript[1] == "play closed-notice"


async def test_a_shared_box_asks_for_the_message_and_mails_its_address(env: FakeEnv) -> None:
    call = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, call, "general")
    assert call.transcript[:3] == ["answer", "play leave_message", "record dtmf"]
    [message] = env.messages.values()
    assert message.box == "general"
    assert emails(env) == [(message.id, ["office@acme.test"])]


async def test_a_shared_boxs_uploaded_greeting(env: FakeEnv) -> None:
    tone(env.media_path("greetings/support.wav"), 2.0)
    call = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, call, "support")
    assert call.transcript[1] == "play file:support.wav"


async def test_a_missing_uploaded_greeting_falls_back_to_the_system_one(env: FakeEnv) -> None:
    call = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, call, "support")
    assert call.transcript[1] == "play leave_message"
    assert {"node": "voicemail", "box": "support", "greeting_missing": "greetings/support.wav"} in (
        call.notes
    )


async def test_a_message_under_a_second_is_discarded(env: FakeEnv) -> None:
    call = scripted(recordings=[(0.4, "dtmf")])
    await leave(env, call, "101")
    assert call.transcript[-3:] == ["record dtmf", "play nothing_recorded,goodbye", "hangup"]
    assert env.messages == {} and emails(env) == []
    assert not recorded(call)[0][0].exists()
    assert steps(call)[-1] == "discarded"


async def test_hanging_up_on_the_greeting_leaves_no_message(env: FakeEnv) -> None:
    call = scripted(recordings=[(0.0, "hangup")])
    await leave(env, call, "general")
    assert call.transcript[-1] == "record hangup"  # nothing played to a caller who left
    assert env.messages == {} and not recorded(call)[0][0].exists()


@pytest.mark.parametrize("box", ["104", "sales"])
async def test_no_such_box_hangs_up(env: FakeEnv, box: str) -> None:
    call = scripted()
    await leave(env, call, box)
    assert call.transcript == ["hangup"]
    assert call.notes == [{"node": "voicemail", "box": box, "result": "no such box"}]


async def test_the_caller_never_waits_for_the_email(env: FakeEnv) -> None:
    env.release_email = asyncio.Event()
    call = scripted(recordings=[(3.0, "dtmf")])
    await voicemail.deposit(call, env, ToVoicemail(voicemail="101"))
    assert call.transcript[-1] == "hangup" and emails(env) == []  # the call is over, mail pending
    env.release_email.set()
    await voicemail.emails_sent()
    assert emails(env) == [(next(iter(env.messages)), ["alice@acme.test"])]


async def test_a_failed_email_is_logged_and_the_caller_hears_it_saved(
    env: FakeEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env.email_error = RuntimeError("smtp exploded")
    call = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, call, "101")
    assert "play message_saved,goodbye" in call.transcript
    [message_id] = env.messages
    assert f"voicemail {message_id} (box 101) not e-mailed" in caplog.text
    assert "smtp exploded" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)


# ---------------------------------------------------------------- listening by phone


async def test_owner_listens_keeps_deletes_and_leaves(env: FakeEnv) -> None:
    old = env.add_voicemail("101", 2.0, heard=True)
    first = env.add_voicemail("101", 3.0)
    second = env.add_voicemail("101", 4.0)
    # PIN; first plays to its end then 9 (keep) at the menu; 7 during the second; # on the old.
    call = scripted("1234#" + FINISH + "9" + "7" + "#", caller="101")
    await menu(env, call, "101")
    assert call.transcript == [
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
    assert changes(env) == [f"heard {first.id}", f"heard {second.id}", f"deleted {second.id}"]
    assert [n["result"] for n in call.notes if "result" in n] == ["opened"]


async def test_one_replays_and_the_end_of_the_list_offers_the_main_menu(env: FakeEnv) -> None:
    only = env.add_voicemail("101", 3.0)
    call = scripted("1234#" + "1" + "2" + "#", caller="101")
    await menu(env, call, "101")
    plays = [h for h in call.transcript if h.startswith("play file:")]
    assert plays == [f"play file:{only.id}.wav"] * 2
    assert changes(env) == [f"heard {only.id}"]  # marked once
    assert call.transcript[-4:] == [
        "play vm_no_more_messages",
        "play vm_main_menu",
        "play goodbye",
        "hangup",
    ]


async def test_a_wrong_pin_three_times_is_refused(env: FakeEnv) -> None:
    env.add_voicemail("101", 3.0)
    call = scripted("1111#2222#3333#", caller="101")
    await menu(env, call, "101")
    assert call.transcript.count("play enter_pin") == 3
    assert call.transcript[-2:] == ["play vm_wrong_pin,goodbye", "hangup"]
    assert call.transcript.count("play vm_wrong_pin") == 2  # between attempts
    assert [n["attempt"] for n in call.notes if "attempt" in n] == [1, 2, 3]
    assert changes(env) == [] and "play vm_new_messages" not in call.transcript


async def test_the_pin_on_the_second_attempt(env: FakeEnv) -> None:
    call = scripted("9999#1234#" + "#", caller="101")
    await menu(env, call, "101")
    assert call.transcript.count("play enter_pin") == 2
    assert "play vm_no_new_messages" in call.transcript
    assert call.notes[-1] == {"node": "voicemail_access", "box": "101", "new": 0, "old": 0}


async def test_own_phone_opens_a_box_without_pin(env: FakeEnv) -> None:
    message = env.add_voicemail("103", 3.0, heard=True)
    call = scripted(FINISH + "#", caller="103")
    await menu(env, call, "103")
    assert "play enter_pin" not in call.transcript
    assert call.transcript[1:5] == [
        "play vm_no_new_messages",
        "play vm_message_number",
        "say 1",
        f"play file:{message.id}.wav",
    ]
    assert changes(env) == []  # already heard


async def test_a_box_without_pin_is_closed_to_other_phones(env: FakeEnv) -> None:
    env.add_voicemail("103", 3.0)
    call = scripted("103#" + "1#2#3#", caller="101")
    await menu(env, call, None)
    assert call.transcript[:3] == ["answer", "play vm_enter_box", "keys 103"]
    assert call.transcript.count("play enter_pin") == 3
    assert call.transcript[-2:] == ["play vm_wrong_pin,goodbye", "hangup"]
    assert changes(env) == []


async def test_an_unknown_box_sounds_like_a_wrong_pin(env: FakeEnv) -> None:
    unknown, wrong = scripted("999#1#2#3#"), scripted("101#1#2#3#")
    await menu(env, unknown, None)
    await menu(env, wrong, None)
    assert unknown.transcript[3:] == wrong.transcript[3:]  # after the box number, the same call


async def test_the_box_number_typed_then_the_pin(env: FakeEnv) -> None:
    env.add_voicemail("101", 3.0)
    call = scripted("101#1234#" + "#")
    await menu(env, call, None)
    assert call.transcript[1:6] == [
        "play vm_enter_box",
        "keys 101",
        "play enter_pin",
        "keys 1234",
        "play vm_new_messages",
    ]


async def test_a_shared_box_named_by_the_pbx_needs_its_pin(env: FakeEnv) -> None:
    message = env.add_voicemail("general", 3.0)
    call = scripted("4321#" + "7" + "#", caller="101")
    await menu(env, call, "general")
    assert changes(env) == [f"heard {message.id}", f"deleted {message.id}"]


async def test_own_phone_without_a_box_is_told_so(env: FakeEnv) -> None:
    call = scripted(caller="104")
    await menu(env, call, "104")
    assert call.transcript == ["answer", "play vm_no_mailbox,goodbye", "hangup"]


async def test_silence_at_the_menu_ends_the_call_and_a_wrong_key_is_said(env: FakeEnv) -> None:
    message = env.add_voicemail("101", 3.0)
    call = scripted("1234#" + "5" + TIMEOUT * 3, caller="101")
    await menu(env, call, "101")
    assert call.transcript[-9:] == [
        "play invalid_option",
        *["play vm_message_menu", "keys "] * 3,
        "play goodbye",
        "hangup",
    ]
    assert changes(env) == [f"heard {message.id}"]


async def test_hanging_up_in_the_menu_propagates(env: FakeEnv) -> None:
    message = env.add_voicemail("101", 3.0)
    call = scripted("1234#" + FINISH, caller="101")
    with pytest.raises(CallerHungUp):
        await menu(env, call, "101")
    assert changes(env) == [f"heard {message.id}"]


# ---------------------------------------------------------------- the greeting, by phone


async def test_recording_listening_to_and_saving_a_greeting(env: FakeEnv) -> None:
    call = scripted(
        "1234#" + "0" + "1" + FINISH + "3" + "#", recordings=[(3.0, "dtmf")], caller="101"
    )
    await menu(env, call, "101")
    assert call.transcript[4:13] == [
        "play vm_main_menu",
        "play record_greeting",
        "record dtmf",
        "play greeting_review",
        "play file:" + recorded(call)[0][0].name,
        "play greeting_review",
        "play greeting_saved",
        "play vm_main_menu",
        "play goodbye",
    ]
    greeting = env.media_path("voicemail/101/greeting.wav")
    assert greeting.is_file() and not recorded(call)[0][0].exists()
    assert recorded(call)[0][0].parent == greeting.parent  # atomic replace: same folder
    # the next caller hears it
    caller = scripted(recordings=[(3.0, "dtmf")])
    await leave(env, caller, "101")
    assert caller.transcript[1] == "play file:greeting.wav"


async def test_recording_again_then_saving_keeps_the_second_take(env: FakeEnv) -> None:
    call = scripted(
        "1234#" + "0" + "2" + "3" + "#",
        recordings=[(2.0, "dtmf"), (5.0, "dtmf")],
        caller="101",
    )
    await menu(env, call, "101")
    assert call.transcript.count("record dtmf") == 2
    greeting = env.media_path("voicemail/101/greeting.wav")
    assert greeting.stat().st_size > 5.0 * 8000 * 2  # 16-bit samples of the second take
    assert [p for p in greeting.parent.iterdir()] == [greeting]


async def test_an_empty_take_is_said_and_asked_again(env: FakeEnv) -> None:
    call = scripted("1234#" + "0" + "3" + "#", recordings=[(0.2, "dtmf"), (3.0, "dtmf")],
                    caller="101")  # fmt: skip
    await menu(env, call, "101")
    assert "play nothing_recorded" in call.transcript
    assert env.media_path("voicemail/101/greeting.wav").is_file()


async def test_giving_up_on_a_greeting_keeps_the_old_one_and_no_draft(env: FakeEnv) -> None:
    greeting = env.media_path("voicemail/101/greeting.wav")
    tone(greeting, 1.5)
    before = greeting.read_bytes()
    call = scripted("1234#" + "0" + "#" + "#", recordings=[(3.0, "dtmf")], caller="101")
    await menu(env, call, "101")
    assert greeting.read_bytes() == before
    assert [p.name for p in greeting.parent.iterdir()] == ["greeting.wav"]
    assert "greeting not saved" in steps(call)


async def test_hanging_up_while_recording_the_greeting_leaves_nothing(env: FakeEnv) -> None:
    call = scripted("1234#" + "0", recordings=[(3.0, "hangup")], caller="101")
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
