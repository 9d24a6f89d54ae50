"""Calls the PBX originates itself: ring an extension's phones, run a feature on the one that
answers (issue 4, "IVR menus": the administrator asks Centralita to call their phone to record
a menu's greeting).

Theory of operation. There is no caller: the only party is the called phone, and the PBX is
the UAC of its INVITE dialog (RFC 3261 §13.2). :meth:`Originator.originate` asks the dial
planner for the extension's phones (every registered contact: RFC 3261 §10.2.1.2 lets one
address of record have several) and rings them as the dial verb rings its targets
(:class:`~centralita.ringing.Ringer`: one INVITE per phone with its own RTP endpoint and SDP
offer, RFC 3264 §5; the first that answers wins, the others are CANCELed, or hung up if they
answered at the same moment, RFC 3261 §9.1, §15; a phone that never answers the network is
unreachable). The winning leg's endpoint, already started with the answer's codec (RFC 3264
§6), is adopted by an :class:`OriginatedCall`, the CallContext the feature runs on:
``answer`` is a no-op, ``play``/``record``/``collect_digits``/... run on that endpoint, keys
arrive by RFC 4733 or SIP INFO (RFC 6086), the phone's BYE ends the call as a caller's does
(CallerHungUp), and ``hangup`` sends our BYE.

The called extension gets one incoming row in its call log: ``answered_in`` when it answered
(``answered_by`` itself), ``missed`` when its phones were rung and none answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from centralita.calls.appcall import AppTarget, CallLogSink
from centralita.calls.call import Party
from centralita.calls.outbound import OutboundCalls
from centralita.live import Driver, MediaCall, MediaServices
from centralita.records.outcome import CallSummary, ExtensionRow, Outcome, Status
from centralita.ringing import DialPlanner, Leg, Ringer, summed
from centralita.routing.context import CallerHungUp, DialStatus, DialTarget

log = logging.getLogger("centralita.originate")

RING_SECONDS = 30.0  # how long the phones ring before the call counts as not answered


@dataclass(frozen=True, slots=True)
class Origination:
    """Whom to call, and how the call presents itself (From, call log, trace)."""

    tenant_id: int
    tenant_name: str
    domain: str
    extension: str
    caller: str = "centralita"  # the From user part the phone shows
    caller_name: str = "Centralita"  # its display name
    service: str = "originate"  # what the call is for, in the trace (e.g. "record_greeting")

    def app_target(self) -> AppTarget:
        uri = f"sip:{self.caller}@{self.domain}"
        return AppTarget(
            tenant_id=self.tenant_id,
            tenant_name=self.tenant_name,
            domain=self.domain,
            caller=Party(self.caller, self.caller_name, uri),
            service=self.service,
            caller_is_extension=False,
        )


class LegSide:
    """The CallerSide of an answered leg: the PBX is the UAC of this dialog."""

    def __init__(self, leg: Leg, outbound: OutboundCalls) -> None:
        self.leg = leg
        self.outbound = outbound
        self._trace: list[dict[str, Any]] = []
        self._rows: dict[str, ExtensionRow] = {}

    @property
    def call_id(self) -> str:
        assert self.leg.call is not None
        return self.leg.call.call_id

    @property
    def answered(self) -> bool:
        return True  # only an answered leg gets a side

    @property
    def offer(self) -> bytes:
        return b""  # we made the offer; the media is adopted, never answered again

    @property
    def trace(self) -> list[dict[str, Any]]:
        return self._trace

    @property
    def rows(self) -> dict[str, ExtensionRow]:
        return self._rows

    def media_ip(self) -> str:
        assert self.leg.origin is not None
        return self.leg.origin.origin.address

    def ring(self, now: float) -> None:
        pass  # the phone answered already

    def answer(self, body: bytes, now: float) -> bool:
        return not self.leg.ended.is_set()

    def reject(self, status: int, now: float, reason: str | None) -> None:
        self.hang_up(now)  # an answered call cannot be refused any more: BYE

    def hang_up(self, now: float) -> None:
        if self.leg.call is not None:
            self.outbound.hang_up(self.leg.call, now)


class OriginatedCall(MediaCall):
    """The CallContext of an originated call, on the leg that answered."""

    def __init__(
        self,
        leg: Leg,
        outbound: OutboundCalls,
        drive: Driver,
        media: MediaServices,
        who: Origination,
    ) -> None:
        super().__init__(
            LegSide(leg, outbound),
            drive,
            media,
            caller=who.caller,
            caller_name=who.caller_name,
            tenant=who.tenant_name,
            service=who.service,
        )
        assert leg.media is not None and leg.origin is not None
        self.leg = leg
        self.adopt(leg.endpoint, leg.media, leg.origin)
        self.end_cause = "hung up by the PBX"
        while not leg.keys.empty():  # pressed between the answer and now
            self.key_pressed(leg.keys.get_nowait())
        leg.on_key = self.key_pressed
        leg.on_end = self.ended
        if leg.ended.is_set():  # the phone hung up before the feature started
            self.ended("ended before the call was taken over")

    def ended(self, cause: str) -> None:
        self.end_cause = cause
        super().ended(cause)


Feature = Callable[[OriginatedCall], Awaitable[None]]


class Originator:
    """Places originated calls."""

    def __init__(
        self,
        outbound: OutboundCalls,
        drive: Driver,
        media: MediaServices,
        call_log: CallLogSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbound = outbound
        self.drive = drive
        self.media = media
        self.call_log = call_log
        self.clock = clock

    # ---- the call -----------------------------------------------------------------------------

    async def originate(
        self,
        planner: DialPlanner,
        who: Origination,
        feature: Feature,
        *,
        ring_seconds: float = RING_SECONDS,
    ) -> DialStatus:
        """Call ``who.extension`` and run ``feature`` on the answered call, to its end.
        ANSWERED once the feature ran (however it ended), else why nobody answered. The
        feature's own errors propagate, after the call is hung up and logged."""
        target = DialTarget(who.extension)
        planned = await planner.legs(who.app_target().caller, target, None)
        if isinstance(planned, DialStatus):
            log.info("not placed", extra={"fields": {"to": who.extension, "why": planned.value}})
            return planned
        started = self.clock()
        ringer = Ringer(self.outbound, self.drive, self.media.endpoints, planner)
        legs: list[Leg] = []
        try:
            for one in planned:
                legs.append(ringer.place(target, one))
            winner = await ringer.first_answer(legs, ring_seconds)
            if winner is None:
                status = summed([leg.unanswered_status() for leg in legs])
                call_id = _call_id(legs[0]) if legs else f"originate-{started:.6f}"
                self._log(who, call_id, started, None, f"not answered: {status.value}", [])
                return status
            await self._run(who, winner, started, feature)
            return DialStatus.ANSWERED
        finally:
            for leg in legs:
                leg.close()

    async def _run(self, who: Origination, leg: Leg, started: float, feature: Feature) -> None:
        call = OriginatedCall(leg, self.outbound, self.drive, self.media, who)
        answered = self.clock()
        call.note(node="originate", to=who.extension, service=who.service)
        try:
            await feature(call)
        except CallerHungUp:
            pass  # the phone hung up: a normal end
        finally:
            if not call.has_ended:
                await call.hangup()
            trace = call.side.trace
            self._log(who, call.side.call_id, started, answered, call.end_cause, trace)

    def _log(
        self,
        who: Origination,
        call_id: str,
        started: float,
        answered: float | None,
        cause: str,
        trace: list[dict[str, Any]],
    ) -> None:
        status = Status.ANSWERED_IN if answered is not None else Status.MISSED
        by = who.extension if answered is not None else None
        summary = CallSummary(
            tenant_id=who.tenant_id,
            call_id=call_id,
            caller=who.caller,
            caller_name=who.caller_name,
            callee=who.extension,
            callee_name="",
            callee_is_extension=True,
            started_at=started,
            answered_at=answered,
            ended_at=self.clock(),
            outcome=Outcome.ANSWERED if answered is not None else Outcome.NO_ANSWER,
            hangup_cause=cause,
            answered_by=by,
            routing_trace=[{"node": "originate", "service": who.service}, *trace],
            caller_is_extension=False,
            extension_rows=(ExtensionRow(who.extension, status, by),),
        )
        try:
            self.call_log.call_ended(summary)
        except Exception:
            log.exception("writing the call log failed", extra={"call_id": call_id})


def _call_id(leg: Leg) -> str:
    return leg.call.call_id if leg.call is not None else f"originate-{id(leg):x}"
