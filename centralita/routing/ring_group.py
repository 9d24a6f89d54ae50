"""A ring group's call: its members ring by the group's strategy, the first to answer takes
the call, and when nobody does the call goes on to the group's ``no_answer`` destination
(the runtime of :mod:`centralita.routing.resolve`'s "ring group" step).

Theory of operation
-------------------
First the group's ``opening``, read on :meth:`RoutingEnv.now` by
:func:`~centralita.routing.resolve.ring_group_opening` (so the dry run agrees): a group
closed by its schedule, or closed outright, rings nobody and sends the call to its closed
destination through ``goto`` (the trace says why: the schedule's reason, or "closed").

Members are extensions (their phones ring; their own forwarding and simultaneous ring do
not apply, as the group, not the user, was called) and E.164 numbers (through the carrier,
showing the company's number). A round goes through the members by the strategy:

- ``simultaneous``: every member at once, ``member_timeout`` seconds for the whole round;
- ``sequential``: one after another, in the configured order, ``member_timeout`` each;
- ``first_free``: like sequential, but only members idle when their turn comes: an extension
  that is provisioned, registered, not in a call and not in do-not-disturb (an external
  number always counts as idle: nothing tells otherwise).

The group does ``loops`` rounds. An extension in do-not-disturb is never rung (its row says
``dnd``); a round in which nobody could be rung ends the rounds at once, so a group with no
free member goes straight to ``no_answer``. The caller hears ringback, or, with
``caller_hears: music``, is answered and hears music on hold while members ring.

Rows: every extension member that was rung gets ``missed`` (``answered_by`` says who took
the call, when somebody did), the one that answered ``answered_in``. The trace has a step
per dial saying who rang in what order, and one saying who answered or where the call went.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from centralita.config.dialplan import RingGroupConfig, is_external
from centralita.records.outcome import Status
from centralita.routing.context import CallContext, DialStatus, DialTarget
from centralita.routing.env import RoutingEnv
from centralita.routing.extension import Answered, trace_step
from centralita.routing.resolve import describe, ring_group_opening

if TYPE_CHECKING:
    from centralita.routing.flow import Goto


async def run(
    call: CallContext,
    env: RoutingEnv,
    group: RingGroupConfig,
    goto: Goto,
    *,
    answered: Answered | None = None,
) -> None:
    """Ring ``group`` (see the module docstring); ``answered``: the walk's record of who took
    the call (a new one when not given)."""
    await _RingGroup(call, env, group, goto, answered or Answered()).run()


class _RingGroup:
    def __init__(
        self,
        call: CallContext,
        env: RoutingEnv,
        group: RingGroupConfig,
        goto: Goto,
        answered: Answered,
    ) -> None:
        self.call = call
        self.env = env
        self.group = group
        self.goto = goto
        self.answered = answered
        self.name = f"ring group {group.name}"
        self.music = group.caller_hears == "music"
        self.rung: list[str] = []  # extension members rung, in order, once each
        self.in_dnd: list[str] = []

    async def run(self) -> None:
        if await self._closed():
            return
        group = self.group
        each = " each" if group.strategy != "simultaneous" else ""
        self._note(
            f"{group.strategy}: {', '.join(group.members)}, {group.member_timeout} s{each}, "
            f"{group.loops} round{'s' if group.loops > 1 else ''}",
            members=list(group.members),
        )
        if self.music:
            await self.call.answer()
        by = await self._rounds()
        self._rows(by)
        if by is not None:
            self.answered.by = by
            self._note(f"answered by {by}", answered_by=by)
            await self.call.hangup()  # the conversation is over; the caller is still there
            return
        self._note("nobody answered", then=describe(group.no_answer))
        await self.goto(group.no_answer)

    async def _closed(self) -> bool:
        """Whether the group is closed now; if so the call has gone where closed calls go."""
        opening = ring_group_opening(self.env.plan, self.group, self.env.now())
        if opening.closed is None:
            if opening.reason:  # open by schedule: say so
                self._note(opening.reason, open=True)
            return False
        self._note(opening.reason, then=describe(opening.closed), open=False)
        await self.goto(opening.closed)
        return True

    async def _rounds(self) -> str | None:
        for number in range(1, self.group.loops + 1):
            rang, by = await self._round(number)
            if by is not None or not rang:
                return by
        return None

    async def _round(self, number: int) -> tuple[bool, str | None]:
        """Whether anybody could be rung in this round, and who answered."""
        if self.group.strategy == "simultaneous":
            members = [m for m in self.group.members if self._may_ring(m, number)]
            return bool(members), (await self._dial(members, number) if members else None)
        rang = False
        for member in self.group.members:
            if self._may_ring(member, number):
                rang = True
                by = await self._dial([member], number)
                if by is not None:
                    return True, by
        return rang, None

    def _may_ring(self, member: str, round_number: int) -> bool:
        reason = self._not_ringing(member)
        if reason is None:
            return True
        if reason == "do not disturb" and member not in self.in_dnd:
            self.in_dnd.append(member)
        self._note(f"round {round_number}: {member} skipped: {reason}", skipped=member)
        return False

    def _not_ringing(self, member: str) -> str | None:
        if is_external(member):
            return None
        if not self.env.extension_exists(member):
            return "not found"
        if self.env.dnd(member):
            return "do not disturb"
        if self.group.strategy != "first_free":
            return None
        if not self.env.is_registered(member):
            return "not registered"
        if self.env.is_busy(member):
            return "in a call"
        return None

    async def _dial(self, members: list[str], round_number: int) -> str | None:
        timeout = float(self.group.member_timeout)
        self._note(
            f"round {round_number}: ringing {', '.join(members)} for {timeout:g} s",
            ringing=members,
        )
        self.rung += [m for m in members if not is_external(m) and m not in self.rung]
        result = await self.call.dial(
            [DialTarget(m) for m in members],
            timeout,
            caller_id=self.env.company_number(),
            music=self.music,
        )
        if result.status is DialStatus.ANSWERED:
            return result.answered_by or members[0]
        return None

    def _rows(self, by: str | None) -> None:
        for member in self.rung:
            if member == by:
                self.call.status_for(member, Status.ANSWERED_IN, answered_by=by)
            else:
                self.call.status_for(member, Status.MISSED, answered_by=by)
        for member in self.in_dnd:
            if member not in self.rung:
                self.call.status_for(member, Status.DND)

    def _note(self, detail: str, then: str | None = None, **extra: Any) -> None:
        trace_step(self.call, self.name, detail, then, **extra)
