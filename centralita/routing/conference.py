"""Conference rooms of the dial plan (``{conference: team}``, or the room's short number).

Theory of operation
-------------------
The caller is answered, then gets a role:

- a room with no PINs: everybody is a member, nobody is asked anything (and nobody can be
  the moderator);
- ``pin`` (and maybe ``moderator_pin``): "enter your PIN"; the member PIN makes a member,
  the moderator PIN a moderator;
- ``moderator_pin`` alone: the room is open, only the moderator has a PIN: "if you are the
  moderator enter your PIN, otherwise press pound"; pound alone (or silence until the
  timeout, for phones that cannot send keys) makes a member.

A PIN ends with ``#``, with :data:`PIN_DIGITS` digits (the longest PIN the configuration
accepts), or after :data:`INTER_DIGIT_TIMEOUT` seconds without a key. Anything else is a
wrong PIN: "that PIN is not correct", and the question again, :data:`PIN_ATTEMPTS` times in
all; then "goodbye" and the call is hung up. PINs never reach the trace (only that one was
right or wrong).

The caller then joins the room with its configured settings (maximum members, join/leave
tones, muted until a moderator arrives, recording to ``env.recording_path("conference",
name)``) and stays until it hangs up (CallerHungUp propagates, as from every verb). A full
room: "the conference is full", hang up.

``muted_until_moderator`` without a ``moderator_pin`` would mute the members for ever: it is
ignored (the room works as if unset) and a warning goes to the trace.

In the room (see :mod:`centralita.media.conference`): ``0`` mutes or unmutes oneself, ``1``
from a moderator mutes or unmutes every member who is not a moderator.
"""

from __future__ import annotations

import enum

from centralita.config.dialplan import ConferenceConfig
from centralita.routing.context import CallContext, RoomFull
from centralita.routing.env import RoutingEnv

PIN_ATTEMPTS = 3
PIN_DIGITS = 12  # dialplan_values.check_pin: 4 to 12 digits
FIRST_DIGIT_TIMEOUT = 10.0
INTER_DIGIT_TIMEOUT = 5.0
PIN_KEYS = "0123456789*#"


class Role(enum.StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"


async def run(call: CallContext, env: RoutingEnv, room: ConferenceConfig) -> None:
    """Answer, ask for the PIN if the room has one, and keep the caller in the room."""
    await call.answer()
    call.note(node="conference", room=room.name)
    role = await _role(call, room)
    if role is None:
        call.note(node="conference", room=room.name, result="wrong_pin")
        await _goodbye(call, "goodbye")
        return
    until_moderator = room.muted_until_moderator and room.moderator_pin is not None
    if room.muted_until_moderator and not until_moderator:
        call.note(
            node="conference",
            room=room.name,
            warning="muted_until_moderator ignored: the room has no moderator_pin",
        )
    record = env.recording_path("conference", room.name) if room.record else None
    call.note(
        node="conference",
        room=room.name,
        role=role.value,
        recording=str(record) if record is not None else None,
    )
    try:
        await call.join_conference(
            room.name,
            moderator=role is Role.MODERATOR,
            max_members=room.max_members,
            join_tones=room.join_tones,
            muted_until_moderator=until_moderator,
            record=record,
        )
    except RoomFull:
        call.note(node="conference", room=room.name, result="full")
        await _goodbye(call, "conference_full")


async def _role(call: CallContext, room: ConferenceConfig) -> Role | None:
    """The caller's role, from the PIN it enters; None after too many wrong PINs."""
    configured = ((room.pin, Role.MEMBER), (room.moderator_pin, Role.MODERATOR))
    pins = {pin: role for pin, role in configured if pin is not None}
    if not pins:
        return Role.MEMBER
    open_room = room.pin is None  # members come in without a PIN, only moderators have one
    prompt = "conference_moderator_pin" if open_room else "enter_pin"
    for attempt in range(1, PIN_ATTEMPTS + 1):
        entered = await _ask_pin(call, prompt)
        role = pins.get(entered)
        if role is None and open_room and not entered:
            role = Role.MEMBER
        if role is not None:
            return role
        call.note(node="conference", room=room.name, pin="wrong", attempt=attempt)
        await call.play("conference_wrong_pin")
    return None


async def _ask_pin(call: CallContext, prompt: str) -> str:
    first = await call.play(prompt, interrupt_on=PIN_KEYS)
    return await call.collect_digits(
        PIN_DIGITS,
        FIRST_DIGIT_TIMEOUT,
        terminator="#",
        first_digit=first,
        inter_digit_timeout=INTER_DIGIT_TIMEOUT,
    )


async def _goodbye(call: CallContext, prompt: str) -> None:
    await call.play(prompt)
    await call.hangup()
