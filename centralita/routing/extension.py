"""An extension's incoming call: the user's forwarding rules, do-not-disturb, then its phones
and the numbers that ring with them (the runtime of :mod:`centralita.routing.resolve`'s
"extension" step). Also the few things every step of a walk shares: who answered the call
(:class:`Answered`), how a call nobody takes ends (:func:`refuse`) and the trace entry
(:func:`trace_step`); :mod:`centralita.routing.flow` re-exports them.

Theory of operation
-------------------
The rules apply in the order a user expects from a desk phone:

1. Unconditional forwarding: the one set from the phone (feature code,
   :meth:`RoutingEnv.forward_override`) wins over ``forwarding.unconditional``; the phones
   do not ring.
2. Do-not-disturb: the row says ``dnd`` and the call takes the busy path.
3. No phone registered: the unreachable path.
4. Already in a call (:meth:`RoutingEnv.is_busy`; there is no call waiting yet): the busy path.
5. Otherwise the phones ring together with ``simultaneous_ring`` for ``no_answer.after``
   seconds (:data:`DEFAULT_RING_SECONDS` without that rule) and the dial's result picks the
   path: busy, no answer, unreachable (and failed), or declined (603: the busy path, logged
   ``rejected``).

A path with a forwarding rule passes the call on with ``goto``, so that loops and long
chains are caught in one place (:mod:`centralita.routing.flow`). The extension's row then
says ``forwarded_unanswered`` (``dnd`` / ``rejected`` stay as they are) unless somebody
answers there: ``answered_in`` with ``answered_by`` the one who did. A path without a rule
leaves the row ``missed`` and refuses the caller (486 busy, 480 otherwise, 603 declined).
External legs show the company's number (:meth:`RoutingEnv.company_number`), never the
user's mobile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import ValidationError

from centralita.config.dialplan import (
    DestinationModel,
    ExtensionRouting,
    Forwarding,
    ToExtension,
    ToNumber,
)
from centralita.records.outcome import Status
from centralita.routing.context import CallContext, DialStatus, DialTarget
from centralita.routing.env import RoutingEnv
from centralita.routing.resolve import NOT_FOUND, describe

if TYPE_CHECKING:
    from centralita.routing.flow import Goto

# How long phones ring when the user set no no-answer forwarding (also external numbers).
DEFAULT_RING_SECONDS = 60.0


@dataclass(slots=True)
class Answered:
    """Who took the call, once somebody has. One per call, shared by every step of the walk,
    so that an extension that forwarded the call learns whether it was answered there."""

    by: str | None = None


@runtime_checkable
class Rejecting(Protocol):
    """A call that can end an unanswered caller with a chosen final response (proposed for
    :class:`~centralita.routing.context.CallContext`)."""

    async def reject(self, status: int) -> None:
        """Send the final response ``status`` (4xx-6xx) to the unanswered caller."""
        ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """How a call nobody takes ends: the final response an unanswered caller gets, or the
    prompt an answered one hears before the hang-up."""

    status: int
    prompt: str


BUSY_HERE = Refusal(486, "user_busy")  # RFC 3261 §21.4.24
TEMPORARILY_UNAVAILABLE = Refusal(480, "not_available")  # RFC 3261 §21.4.18
DECLINE = Refusal(603, "not_available")  # RFC 3261 §21.6.2
UNKNOWN_NUMBER = Refusal(404, "no_such_number")  # RFC 3261 §21.4.4
# RFC 3398 §8.2.6.1: no circuit / switching equipment congestion (causes 34, 42) -> 503.
CONGESTION = Refusal(503, "cannot_connect")

DIAL_REFUSALS: dict[DialStatus, Refusal] = {
    DialStatus.BUSY: BUSY_HERE,
    DialStatus.NO_ANSWER: TEMPORARILY_UNAVAILABLE,
    DialStatus.UNREACHABLE: TEMPORARILY_UNAVAILABLE,
    DialStatus.REJECTED: DECLINE,
    DialStatus.FAILED: CONGESTION,
}


async def refuse(call: CallContext, refusal: Refusal) -> None:
    """End a call nobody takes. An unanswered caller gets the final response when the call
    can send one (:class:`Rejecting`; otherwise the runtime turns the hang-up of an
    unanswered call into its final response): answering it just to say "not available"
    would make the caller's row answered and bill a caller from outside. An answered
    caller hears the refusal's prompt, then the call is hung up."""
    if not call.answered and isinstance(call, Rejecting):
        await call.reject(refusal.status)
        return
    if call.answered:
        await call.play(refusal.prompt)
    await call.hangup()


def trace_step(
    call: CallContext, node: str, detail: str = "", then: str | None = None, **extra: Any
) -> None:
    """One entry of the routing trace, shaped like :class:`~centralita.routing.resolve.Step`
    (``node``, ``detail``, ``then``) plus whatever the step wants to add."""
    fields: dict[str, Any] = {"node": node}
    if detail:
        fields["detail"] = detail
    if then is not None:
        fields["then"] = then
    call.note(**fields, **extra)


def forward_destination(target: str) -> DestinationModel | None:
    """A forwarding target set from the phone (``*72``): an extension or an E.164 number."""
    try:
        if target.startswith("+"):
            return ToNumber(number=target)
        return ToExtension(extension=target)
    except ValidationError:
        return None


async def run(
    call: CallContext,
    env: RoutingEnv,
    number: str,
    goto: Goto,
    *,
    answered: Answered | None = None,
) -> None:
    """Reach extension ``number``: its rules, then its phones (see the module docstring).
    ``answered``: the walk's record of who took the call (a new one when not given)."""
    await _Extension(call, env, number, goto, answered or Answered()).run()


class _Extension:
    def __init__(
        self, call: CallContext, env: RoutingEnv, number: str, goto: Goto, answered: Answered
    ) -> None:
        self.call = call
        self.env = env
        self.number = number
        self.goto = goto
        self.answered = answered
        self.name = f"extension {number}"
        self.routing = env.plan.extension(number) or ExtensionRouting(number=number)
        self.forwarding = self.routing.forwarding or Forwarding()

    async def run(self) -> None:
        if not self.env.extension_exists(self.number):
            self._note(NOT_FOUND)
            await refuse(self.call, UNKNOWN_NUMBER)
            return
        unconditional = self._unconditional()
        if unconditional is not None:
            destination, why = unconditional
            self._note(why, then=describe(destination))
            await self._forward(destination)
        elif self.env.dnd(self.number):
            self.call.status_for(self.number, Status.DND)
            self._note("do not disturb: the busy path")
            await self._busy(Status.DND)
        elif not self.env.is_registered(self.number):
            self._note("no phone registered: the unreachable path")
            await self._unreachable()
        elif self.env.is_busy(self.number):
            self._note("in a call: the busy path")
            await self._busy()
        else:
            await self._ring()

    def _unconditional(self) -> tuple[DestinationModel, str] | None:
        override = self.env.forward_override(self.number)
        if override:
            destination = forward_destination(override)
            if destination is not None:
                return destination, "unconditional forwarding set from the phone"
            self._note(f"forwarding set from the phone to {override!r} ignored: not a number")
        if self.forwarding.unconditional is not None:
            return self.forwarding.unconditional, "unconditional forwarding"
        return None

    # -------------------------------------------------------------- ringing

    async def _ring(self) -> None:
        targets = self._targets()
        rule = self.forwarding.no_answer
        timeout = float(rule.after) if rule is not None else DEFAULT_RING_SECONDS
        ringing = [target.number for target in targets]
        self._note(f"rings {', '.join(ringing)} for {timeout:g} s", ringing=ringing)
        result = await self.call.dial(targets, timeout, caller_id=self.env.company_number())
        match result.status:
            case DialStatus.ANSWERED:
                await self._answered(result.answered_by or self.number)
            case DialStatus.BUSY:
                self._note("busy: the busy path")
                await self._busy()
            case DialStatus.NO_ANSWER:
                self._note(f"no answer in {timeout:g} s")
                await self._no_answer()
            case DialStatus.REJECTED:
                self.call.status_for(self.number, Status.REJECTED)
                self._note("declined: the busy path")
                await self._busy(Status.REJECTED, DECLINE)
            case _:
                self._note(f"{result.status.value}: the unreachable path")
                await self._unreachable()

    def _targets(self) -> list[DialTarget]:
        confirm = _confirms_external(self.forwarding)
        targets = [DialTarget(self.number)]
        for member in self.routing.simultaneous_ring:
            if member != self.number:
                external = member.startswith("+")
                targets.append(DialTarget(member, confirm=confirm and external, label=self.number))
        return targets

    async def _answered(self, by: str) -> None:
        self.call.status_for(self.number, Status.ANSWERED_IN, answered_by=by)
        self.answered.by = by
        self._note(f"answered by {by}", answered_by=by)
        await self.call.hangup()  # the conversation is over; the caller is still there

    # -------------------------------------------------------------- paths

    async def _busy(self, kept: Status | None = None, refusal: Refusal = BUSY_HERE) -> None:
        rule = self.forwarding.busy
        if rule is not None:
            self._note("busy forwarding", then=describe(rule))
            await self._forward(rule, kept or Status.FORWARDED_UNANSWERED)
        else:
            await self._give_up(refusal, kept or Status.MISSED)

    async def _no_answer(self) -> None:
        rule = self.forwarding.no_answer
        if rule is not None:
            self._note("no-answer forwarding", then=describe(rule.to))
            await self._forward(rule.to)
        else:
            await self._give_up(TEMPORARILY_UNAVAILABLE, Status.MISSED)

    async def _unreachable(self) -> None:
        rule = self.forwarding.unreachable
        if rule is not None:
            self._note("unreachable forwarding", then=describe(rule.to))
            await self._forward(rule.to)
        else:
            await self._give_up(TEMPORARILY_UNAVAILABLE, Status.MISSED)

    async def _forward(
        self, destination: DestinationModel, unanswered: Status = Status.FORWARDED_UNANSWERED
    ) -> None:
        self.call.status_for(self.number, unanswered)
        await self.goto(destination)
        if self.answered.by is not None:
            # Taken where the forwarding sent it. A user in do-not-disturb keeps ``dnd`` (the
            # call did not reach them), with who answered instead.
            status = Status.DND if unanswered is Status.DND else Status.ANSWERED_IN
            self.call.status_for(self.number, status, answered_by=self.answered.by)

    async def _give_up(self, refusal: Refusal, status: Status) -> None:
        self.call.status_for(self.number, status)
        self._note(f"no forwarding: refused with {refusal.status}", status=refusal.status)
        await refuse(self.call, refusal)

    def _note(self, detail: str, then: str | None = None, **extra: Any) -> None:
        trace_step(self.call, self.name, detail, then, **extra)


def _confirms_external(forwarding: Forwarding) -> bool:
    """Whether external legs must press 1 before the call is put through."""
    return forwarding.confirm_external
