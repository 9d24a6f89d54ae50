"""Voicemail: leaving a message in a box (:func:`deposit`) and listening by phone (:func:`access`).

Theory of operation.

*Deposit.* ``{voicemail: "101"}`` names a user's box (the extension's ``voicemail`` settings;
e-mail to the box's own address or else the extension's), ``{voicemail: general}`` a shared box.
The caller is answered and hears the greeting: the configured one (a prompt or an uploaded
file) wins, then one the owner recorded by phone (``voicemail/<box>/greeting.wav`` in the
tenant's media), then the system's ("the person at extension 101 is not available, please leave
a message after the tone"; a shared box only asks for the message). ``#`` skips the greeting.
After the beep the message is recorded until ``#``, 5 s of silence, the box's maximum length, or
the caller hanging up (the usual way to finish, so the message is filed all the same). A message
with less than a second of audio (trailing silence is trimmed by the recorder) is a hang-up on
the greeting, not a message: it is discarded. Otherwise the environment files it (and updates
message-waiting indication, RFC 3842) and the e-mail is sent in the background: the caller
never waits for SMTP, and a failure is logged, not lost.

*Access* (the voicemail feature code): a user's own phone names its box; otherwise the caller
types the box number. A PIN is asked (three attempts) whenever the box has one; a box without
a PIN opens only from its owner's phone. A caller who is not on the owner's phone is asked
for a PIN even when the box does not exist or has none, and refused the same way, so the menu
tells nothing about which boxes exist. Then: how many new messages, each message (new ones
first, oldest first), and a menu after each: 1 again, 2 next, 7 delete, 9 keep (next), 0 record
the greeting (1 listen, 2 again, 3 save), ``#`` finish. A message is marked heard once played.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from centralita.config.dialplan import DialPlan
from centralita.config.dialplan_destinations import ToVoicemail
from centralita.config.dialplan_nodes import Greeting
from centralita.routing.context import CallContext, Playable
from centralita.routing.env import RoutingEnv
from centralita.store.voicemail import VoicemailMessage

log = logging.getLogger("centralita.voicemail")

SILENCE_SECONDS = 5.0  # a message (or greeting) ends after this much silence
MIN_MESSAGE_SECONDS = 1.0  # less audio than this is no message
GREETING_MAX_SECONDS = 60.0
PIN_ATTEMPTS = 3
PIN_TIMEOUT = 8.0  # seconds to start typing the PIN (or the box number)
MAX_PIN_DIGITS = 12
MENU_TIMEOUT = 5.0  # seconds to choose after a menu prompt
MENU_TRIES = 3  # menu prompts played without an answer before the call ends
MENU_KEYS = "0123456789*#"
SKIP_KEY = "#"


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A box as the features need it: a user's (named by extension number) or a shared one."""

    name: str
    personal: bool
    pin: str | None = None
    email: str | None = None
    greeting: Greeting | None = None
    max_message_seconds: int = 180


def find_box(plan: DialPlan, name: str) -> Mailbox | None:
    """The box ``name`` of the plan, or None (an extension without voicemail has no box)."""
    if name.isdigit():
        routing = plan.extension(name)
        own = routing.voicemail if routing is not None else None
        if routing is None or own is None:
            return None
        email = own.email or routing.email
        return Mailbox(name, True, own.pin, email, own.greeting, own.max_message_seconds)
    shared = plan.voicemail_box(name)
    if shared is None:
        return None
    return Mailbox(
        name, False, shared.pin, shared.email, shared.greeting, shared.max_message_seconds
    )


def recorded_greeting(env: RoutingEnv, box: str) -> Path:
    """Where the greeting the owner records by phone is kept (in the tenant's media)."""
    return env.media_path(f"voicemail/{box}/greeting.wav")


# ---------------------------------------------------------------- leaving a message


async def deposit(call: CallContext, env: RoutingEnv, destination: ToVoicemail) -> None:
    """Greet, record after the tone, file the message and e-mail it (in the background)."""
    box = find_box(env.plan, destination.voicemail)
    if box is None:
        call.note(node="voicemail", box=destination.voicemail, result="no such box")
        await call.hangup()
        return
    await call.answer()
    call.note(node="voicemail", box=box.name, step="answered")
    await _greet(call, env, box)
    path = env.recording_path("voicemail", f"{box.name}-{secrets.token_hex(8)}.wav")
    recording = await call.record(
        path, max_seconds=box.max_message_seconds, silence_seconds=SILENCE_SECONDS, beep=True
    )
    call.note(
        node="voicemail",
        box=box.name,
        step="recorded",
        seconds=round(recording.duration, 1),
        ended_by=recording.ended_by,
    )
    still_there = recording.ended_by != "hangup"
    if recording.duration < MIN_MESSAGE_SECONDS:
        recording.path.unlink(missing_ok=True)
        call.note(node="voicemail", box=box.name, step="discarded", reason="no message")
        if still_there:
            await _goodbye(call, "nothing_recorded")
        return
    await _file(call, env, box, recording.path, recording.duration)
    if still_there:
        await _goodbye(call, "message_saved")


async def _greet(call: CallContext, env: RoutingEnv, box: Mailbox) -> None:
    greeting = _configured_greeting(call, env, box)
    source = "configured"
    if greeting is None and recorded_greeting(env, box.name).is_file():
        greeting, source = recorded_greeting(env, box.name), "recorded"
    if greeting is not None:
        call.note(node="voicemail", box=box.name, step="greeting", greeting=source)
        skipped = await call.play(greeting, interrupt_on=SKIP_KEY)
    else:
        call.note(node="voicemail", box=box.name, step="greeting", greeting="default")
        skipped = await _default_greeting(call, box)
    if skipped:
        call.note(node="voicemail", box=box.name, step="greeting skipped")


def _configured_greeting(call: CallContext, env: RoutingEnv, box: Mailbox) -> Playable | None:
    if box.greeting is None:
        return None
    if box.greeting.prompt is not None:
        return box.greeting.prompt
    assert box.greeting.file is not None  # Greeting holds a prompt or a file
    path = env.media_path(box.greeting.file)
    if path.is_file():
        return path
    call.note(node="voicemail", box=box.name, greeting_missing=box.greeting.file)
    log.warning("voicemail box %s: greeting file %s is missing", box.name, path)
    return None


async def _default_greeting(call: CallContext, box: Mailbox) -> str:
    """The system greeting; the key that skipped it ("" if none)."""
    if not box.personal:
        return await call.play("leave_message", interrupt_on=SKIP_KEY)
    if await call.play("vm_person_at_extension", interrupt_on=SKIP_KEY):
        return SKIP_KEY
    await _say_extension(call, box.name)
    # Keys pressed while the number was said are queued: a '#' then skips the rest here.
    return await call.play(["vm_is_unavailable", "leave_message"], interrupt_on=SKIP_KEY)


async def _say_extension(call: CallContext, number: str) -> None:
    if number.startswith("0"):  # "0101" is not one hundred and one: say the digits
        await call.play([f"digit_{digit}" for digit in number])
    else:
        await call.say_number(int(number))


async def _file(
    call: CallContext, env: RoutingEnv, box: Mailbox, path: Path, duration: float
) -> None:
    message = await env.voicemail_filed(
        box.name, path, caller=call.caller, caller_name=call.caller_name, duration=duration
    )
    call.note(node="voicemail", box=box.name, step="filed", message=message.id)
    if box.email:
        email_later(env, message, [box.email])
        call.note(node="voicemail", box=box.name, step="e-mail", to=box.email)


async def _goodbye(call: CallContext, prompt: str) -> None:
    await call.play([prompt, "goodbye"])
    await call.hangup()


# ---------------------------------------------------------------- e-mail in the background

# Tasks hold only weak references in the event loop: keep them until they are done.
_EMAILS: set[asyncio.Task[None]] = set()


def email_later(
    env: RoutingEnv, message: VoicemailMessage, recipients: Sequence[str]
) -> asyncio.Task[None]:
    """E-mail ``message`` without waiting for it; failures are logged."""
    task = asyncio.create_task(
        _email(env, message, list(recipients)), name=f"voicemail-email-{message.id}"
    )
    _EMAILS.add(task)
    task.add_done_callback(_EMAILS.discard)
    return task


async def _email(env: RoutingEnv, message: VoicemailMessage, recipients: list[str]) -> None:
    try:
        await env.email_voicemail(message, recipients)
    except Exception:
        log.exception(
            "voicemail %s (box %s) not e-mailed to %s", message.id, message.box, recipients
        )


async def emails_sent() -> None:
    """Until the e-mails scheduled so far are done (shutdown; tests)."""
    while pending := [task for task in _EMAILS if not task.done()]:
        await asyncio.gather(*pending)


# ---------------------------------------------------------------- listening by phone


class _Next(enum.Enum):
    REPLAY = "replay"
    NEXT = "next"
    MENU = "menu"
    EXIT = "exit"


async def access(call: CallContext, env: RoutingEnv, box: str | None) -> None:
    """The voicemail menu. ``box``: the caller's own extension (dialled from their phone), or
    None to ask for the box number."""
    await call.answer()
    own_phone = box is not None and box == call.caller
    name = box if box is not None else await _ask_box(call)
    mailbox = find_box(env.plan, name) if name else None
    call.note(node="voicemail_access", box=name, own_phone=own_phone)
    if own_phone and mailbox is None:
        call.note(node="voicemail_access", box=name, result="no box")
        await _goodbye(call, "vm_no_mailbox")
        return
    if not await _authenticated(call, mailbox, own_phone) or mailbox is None:
        call.note(node="voicemail_access", box=name, result="refused")
        await _goodbye(call, "vm_wrong_pin")
        return
    call.note(node="voicemail_access", box=mailbox.name, result="opened")
    if await _listen_all(call, env, mailbox):
        await _main_menu(call, env, mailbox)
    await call.play("goodbye")
    await call.hangup()


async def _ask_box(call: CallContext) -> str:
    first = await call.play("vm_enter_box", interrupt_on="0123456789")
    return await call.collect_digits(10, PIN_TIMEOUT, first_digit=first)


async def _authenticated(call: CallContext, box: Mailbox | None, own_phone: bool) -> bool:
    """The PIN check. ``box`` None (unknown box) or without a PIN off its owner's phone: the
    caller is asked all the same and never let in."""
    expected = box.pin if box is not None else None
    if expected is None and own_phone:
        return True
    for attempt in range(1, PIN_ATTEMPTS + 1):
        first = await call.play("enter_pin", interrupt_on="0123456789")
        entered = await call.collect_digits(MAX_PIN_DIGITS, PIN_TIMEOUT, first_digit=first)
        if expected is not None and hmac.compare_digest(entered.encode(), expected.encode()):
            return True
        call.note(node="voicemail_access", pin="wrong", attempt=attempt)
        if attempt < PIN_ATTEMPTS:
            await call.play("vm_wrong_pin")
    return False


async def _listen_all(call: CallContext, env: RoutingEnv, box: Mailbox) -> bool:
    """Every message, new ones first; False when the caller chose to finish."""
    messages = await env.voicemail_messages(box.name)
    new = [m for m in messages if not m.heard]
    old = [m for m in messages if m.heard]
    call.note(node="voicemail_access", box=box.name, new=len(new), old=len(old))
    if new:
        await call.play("vm_new_messages")
        await call.say_number(len(new))
    else:
        await call.play("vm_no_new_messages")
    for number, message in enumerate(new + old, start=1):
        if not await _review(call, env, box, message, number):
            return False
    if messages:
        await call.play("vm_no_more_messages")
    return True


async def _review(
    call: CallContext, env: RoutingEnv, box: Mailbox, message: VoicemailMessage, number: int
) -> bool:
    """Play one message and act on the caller's keys; False when they chose to finish."""
    heard = message.heard
    step = _Next.REPLAY
    while True:
        key = ""
        if step is _Next.REPLAY:
            key = await _play_message(call, message, number)
            if not heard:
                await env.voicemail_mark_heard(message.id)
                call.note(node="voicemail_access", message=message.id, step="heard")
                heard = True
        step = await _on_message_key(call, env, box, message, key or await _choose(call))
        if step is _Next.NEXT:
            return True
        if step is _Next.EXIT:
            return False


async def _play_message(call: CallContext, message: VoicemailMessage, number: int) -> str:
    await call.play("vm_message_number")
    await call.say_number(number)
    return await call.play(Path(message.path), interrupt_on=MENU_KEYS)


async def _on_message_key(
    call: CallContext, env: RoutingEnv, box: Mailbox, message: VoicemailMessage, key: str
) -> _Next:
    if key == "1":
        return _Next.REPLAY
    if key in ("2", "9"):
        return _Next.NEXT
    if key == "7":
        await env.voicemail_delete(message.id)
        call.note(node="voicemail_access", message=message.id, step="deleted")
        await call.play("vm_message_deleted")
        return _Next.NEXT
    if key == "0":
        await record_greeting(call, env, box)
        return _Next.MENU
    if key in ("#", ""):
        return _Next.EXIT
    await call.play("invalid_option")
    return _Next.MENU


async def _main_menu(call: CallContext, env: RoutingEnv, box: Mailbox) -> None:
    """After the last message: record the greeting, or finish."""
    while True:
        key = await _choose(call, "vm_main_menu")
        if key == "0":
            await record_greeting(call, env, box)
        elif key in ("#", ""):
            return
        else:
            await call.play("invalid_option")


async def _choose(call: CallContext, prompt: str = "vm_message_menu") -> str:
    """The key chosen after ``prompt`` (which it may interrupt); "" after MENU_TRIES
    prompts without an answer."""
    for _ in range(MENU_TRIES):
        key = await call.play(prompt, interrupt_on=MENU_KEYS)
        key = key or await call.collect_digits(1, MENU_TIMEOUT, terminator="")
        if key:
            return key
    return ""


# ---------------------------------------------------------------- the greeting, by phone


async def record_greeting(call: CallContext, env: RoutingEnv, box: Mailbox) -> None:
    """Record the box's greeting after the tone (``#`` ends), then 1 listen, 2 record again,
    3 save. Nothing replaces the current greeting until 3; a draft never outlives the call."""
    target = recorded_greeting(env, box.name)
    draft = target.with_name(f"greeting-draft-{secrets.token_hex(4)}.wav")
    call.note(node="voicemail_access", box=box.name, step="record greeting")
    try:
        for _ in range(MENU_TRIES):
            await call.play("record_greeting")
            recording = await call.record(
                draft, max_seconds=GREETING_MAX_SECONDS, silence_seconds=SILENCE_SECONDS
            )
            if recording.ended_by == "hangup":
                return
            if recording.duration < MIN_MESSAGE_SECONDS:
                await call.play("nothing_recorded")
                continue
            choice = await _review_greeting(call, draft)
            if choice == "3":
                draft.replace(target)  # same folder: an atomic swap
                call.note(node="voicemail_access", box=box.name, step="greeting saved")
                await call.play("greeting_saved")
                return
            if choice != "2":
                break
        call.note(node="voicemail_access", box=box.name, step="greeting not saved")
    finally:
        draft.unlink(missing_ok=True)


async def _review_greeting(call: CallContext, draft: Path) -> str:
    """ "2" (again), "3" (save) or "" (give up)."""
    pressed = ""  # a key that interrupted the playback answers the menu
    while True:
        key = pressed or await _choose(call, "greeting_review")
        pressed = ""
        if key == "1":
            pressed = await call.play(draft, interrupt_on=MENU_KEYS)
        elif key in ("2", "3", ""):
            return key
        elif key == "#":
            return ""
        else:
            await call.play("invalid_option")
