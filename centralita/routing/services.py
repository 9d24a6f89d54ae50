"""Built-in services every tenant has, reached by feature codes.

``*43`` echo test (hear yourself: checks audio both ways), ``*41`` keypad test (a prompt,
then the digits you press are read back: checks DTMF), ``*8`` followed by a room number an
ad-hoc conference room of the tenant. Each is a routing feature: ``async def run(call, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from centralita.routing.context import CallContext

ECHO_TEST = "*43"
KEYPAD_TEST = "*41"
CONFERENCE_PREFIX = "*8"


@dataclass(frozen=True, slots=True)
class Service:
    kind: str  # "echo" | "keypad" | "conference"
    argument: str = ""


def service_for(dialled: str) -> Service | None:
    if dialled == ECHO_TEST:
        return Service("echo")
    if dialled == KEYPAD_TEST:
        return Service("keypad")
    room = dialled.removeprefix(CONFERENCE_PREFIX)
    if dialled.startswith(CONFERENCE_PREFIX) and room.isdigit() and 1 <= len(room) <= 6:
        return Service("conference", room)
    return None


async def echo_test(call: CallContext) -> None:
    await call.answer()
    call.note(node="echo_test")
    await call.echo()


async def keypad_test(call: CallContext, *, rounds: int = 3) -> None:
    """Asks for digits ending in #, reads them back; three rounds or until hang-up."""
    await call.answer()
    for _ in range(rounds):
        first = await call.play("enter_digits", interrupt_on="0123456789*#ABCD")
        digits = await call.collect_digits(16, timeout=10.0, first_digit=first)
        call.note(node="keypad_test", digits=digits)
        if not digits:
            break
        await call.play([f"digit_{d}" for d in digits if d.isdigit()])
    await call.play("goodbye")
    await call.hangup()


async def conference_room(call: CallContext, room: str) -> None:
    await call.answer()
    call.note(node="conference", room=room)
    await call.join_conference(room)
