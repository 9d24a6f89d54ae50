"""Ringing the phones of a call the PBX places: one outbound INVITE per phone, the first to
answer wins.

Theory of operation. For each phone a :class:`DialPlanner` names (an extension's registered
contacts, or a carrier's route to an outside number) :func:`place_leg` allocates an RTP
endpoint, makes an SDP offer for it (RFC 3264 §5) and sends the INVITE through
:class:`~centralita.calls.outbound.OutboundCalls` (the PBX is the UAC, RFC 3261 §13.2); the
:class:`Leg` is that call's listener and holds its media once answered. :class:`Ringer`
waits for the first leg to answer (and, when asked, to confirm), lets the others go (CANCEL,
or BYE for one that answered at the same moment), and gives up on a phone that has not
answered the network at all within :data:`NO_RESPONSE_SECONDS`: that one is unreachable,
not unanswered. It serves the dial verb (:mod:`centralita.live_dial`) and the calls the PBX
originates itself (:mod:`centralita.originate`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from centralita.calls.call import Party
from centralita.calls.outbound import OutboundCall, OutboundCalls, OutboundTarget
from centralita.media.events import DtmfReceived
from centralita.media.negotiation import NegotiatedMedia, answer_reoffer
from centralita.media.offer import LocalOffer, accept_answer, make_offer
from centralita.media.rtp_endpoint import MediaEndpoint
from centralita.routing.context import CallerHungUp, DialStatus, DialTarget
from centralita.sip.address import Address
from centralita.sip.message import Request
from centralita.sip.offer_answer import LocalOrigin
from centralita.sip.sdp import SdpError, SdpNotAcceptable

if TYPE_CHECKING:
    from centralita.live import Driver


log = logging.getLogger("centralita.dial")

# A phone that has not answered the network at all by now (not even 100 Trying, which a UAS
# sends within 200 ms, RFC 3261 §17.2.1; our INVITE went out three times by then, Timer A) is
# unreachable: its user's "unreachable" forwarding applies, not "no answer".
NO_RESPONSE_SECONDS = 4.0

_RANK = (
    DialStatus.ANSWERED,
    DialStatus.BUSY,
    DialStatus.NO_ANSWER,
    DialStatus.REJECTED,
    DialStatus.UNREACHABLE,
    DialStatus.FAILED,
)


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    """One phone to ring: the INVITE to send (its body is filled in per leg) and whether to
    offer SRTP (the extension's policy)."""

    target: OutboundTarget
    srtp: bool = False
    extension: str | None = None  # the extension this phone belongs to (busy while in use)


class DialPlanner(Protocol):
    async def legs(
        self, caller: Party, target: DialTarget, caller_id: str | None
    ) -> list[PlannedLeg] | DialStatus:
        """The phones of ``target``, or why there are none (unreachable, busy, failed)."""
        ...

    def occupy(self, extension: str) -> Callable[[], None]:
        """Count ``extension`` as in a call until the returned callable is called."""
        ...

    def media_ip(self, dest: Address) -> str:
        """Our media address as seen from ``dest``."""
        ...


def status_of(sip_status: int) -> DialStatus:
    """A failed leg's final response as a dial status (RFC 3261 §21)."""
    if sip_status in (486, 600):
        return DialStatus.BUSY
    if sip_status == 603:
        return DialStatus.REJECTED
    if sip_status in (408, 480, 487):
        return DialStatus.NO_ANSWER if sip_status == 487 else DialStatus.UNREACHABLE
    if sip_status in (404, 410, 484, 503, 502, 504):
        return DialStatus.UNREACHABLE
    return DialStatus.FAILED


def summed(statuses: Sequence[DialStatus]) -> DialStatus:
    for status in _RANK:
        if status in statuses:
            return status
    return DialStatus.FAILED


class LegOwner(Protocol):
    """Who placed a :class:`Leg`, told of its ringing and asked to end it."""

    def ringing(self) -> None: ...

    def hang_up(self, leg: Leg, reason: str | None = None) -> None: ...


class Leg:
    """One outbound INVITE and its media; the OutboundListener of that call."""

    def __init__(
        self, owner: LegOwner, target: DialTarget, planned: PlannedLeg, endpoint: MediaEndpoint
    ) -> None:
        self.owner = owner
        self.target = target
        self.planned = planned
        self.endpoint = endpoint
        self.call: OutboundCall | None = None
        self.offer: LocalOffer | None = None
        self.origin: LocalOrigin | None = None
        self.media: NegotiatedMedia | None = None
        loop = asyncio.get_running_loop()
        self.outcome: asyncio.Future[int] = loop.create_future()  # 200 or the failure status
        self.ended = asyncio.Event()
        self.rang = False
        self.responded = asyncio.Event()  # any response at all, 100 Trying included
        self.silent = False  # no response within NO_RESPONSE_SECONDS
        self.unconfirmed = False
        self.keys: asyncio.Queue[DtmfReceived] = asyncio.Queue()
        self.on_key: Callable[[DtmfReceived], None] | None = None
        self.on_end: Callable[[str], None] | None = None  # told why the leg ended, once
        self.release: Callable[[], None] | None = None

    def unanswered_status(self) -> DialStatus:
        """Why this leg is not the one put through."""
        if self.silent:
            return DialStatus.UNREACHABLE
        if not self.outcome.done() or self.outcome.cancelled() or self.unconfirmed:
            return DialStatus.NO_ANSWER
        status = self.outcome.result()
        if status == 200:
            return DialStatus.NO_ANSWER  # answered too late, or after another leg won
        return status_of(status)

    def close(self) -> None:
        """Free the leg's media and count its extension as free again; idempotent."""
        self.endpoint.close()
        if self.release is not None:
            self.release()
            self.release = None

    # ---- OutboundListener (inside the sans-I/O driver) --------------------------------------

    def progressed(self, status: int, body: bytes) -> None:
        self.responded.set()
        if status in (180, 183):
            self.rang = True
            self.owner.ringing()

    def answered(self, body: bytes) -> None:
        assert self.offer is not None
        try:
            self.media = accept_answer(self.offer, body)
        except SdpError as error:
            log.warning("answer refused: %s", error.detail)
            self._settle(error.status_code)
            self.owner.hang_up(self, "unacceptable SDP")
            return
        media = self.media
        self.endpoint.on_dtmf = self._key
        self.endpoint.start(
            media.remote,
            media.codec,
            media.telephone_event,
            media.srtp,
            payload_type=media.payload_type,
            rtcp=media.rtcp,
        )
        self.endpoint.set_hold(media.on_hold)
        self._settle(200)

    def failed(self, status: int, reason: str) -> None:
        self._settle(status)
        self._end(f"failed with {status}")

    def ended_(self, cause: str = "ended") -> None:
        self._end(cause)

    def info_received(self, request: Request) -> int:
        from centralita.live import info_key

        status, event = info_key(request)
        if event is not None:
            self._key(event)
        return status

    def offer_received(self, body: bytes) -> bytes:
        """A re-INVITE from the called phone (hold, resume): answered with the running codec
        (RFC 3264 §8); a re-offer without it is refused and the call goes on unchanged."""
        if self.origin is None or self.media is None:
            raise SdpNotAcceptable("the call is not set up yet")
        return answer_reoffer(body, self.endpoint, self.origin, self.media)

    # ---- internals ----------------------------------------------------------------------------

    def _settle(self, status: int) -> None:
        self.responded.set()
        if not self.outcome.done():
            self.outcome.set_result(status)

    def _end(self, cause: str) -> None:
        if self.ended.is_set():
            return
        self.ended.set()
        if self.on_end is not None:
            self.on_end(cause)

    def _key(self, event: DtmfReceived) -> None:
        if self.on_key is not None:
            self.on_key(event)
        else:
            self.keys.put_nowait(event)


class _LegListener:
    """Adapts the OutboundListener's ``ended`` to :class:`Leg` (whose own ``ended`` is the
    event the dial waits on)."""

    def __init__(self, leg: Leg) -> None:
        self.leg = leg

    def progressed(self, status: int, body: bytes) -> None:
        self.leg.progressed(status, body)

    def answered(self, body: bytes) -> None:
        self.leg.answered(body)

    def failed(self, status: int, reason: str) -> None:
        self.leg.failed(status, reason)

    def ended(self, cause: str) -> None:
        self.leg.ended_(cause)

    def info_received(self, request: Request) -> int:
        return self.leg.info_received(request)

    def offer_received(self, body: bytes) -> bytes:
        return self.leg.offer_received(body)


def place_leg(
    owner: LegOwner,
    outbound: OutboundCalls,
    drive: Callable[[Callable[[float], None]], None],
    endpoint: MediaEndpoint,
    target: DialTarget,
    planned: PlannedLeg,
    media_ip: Callable[[Address], str],
) -> Leg:
    """Send one INVITE with our SDP offer (RFC 3264 §5) for ``endpoint``; on any failure
    before it is sent the endpoint is closed."""
    leg = Leg(owner, target, planned, endpoint)
    try:
        address = media_ip(planned.target.dest)
        leg.origin = LocalOrigin(address)
        leg.offer = make_offer(address, endpoint.local_port, leg.origin, srtp=planned.srtp)
    except Exception:
        endpoint.close()
        raise
    invite = dataclasses.replace(planned.target, body=leg.offer.body)
    listener = _LegListener(leg)

    def place(now: float) -> None:
        leg.call = outbound.place(invite, listener, now)

    drive(place)
    return leg


Confirm = Callable[[Leg], Awaitable[bool]]  # whether an answered leg is taken (pressed 1)


class Ringer:
    """Places and rings the legs of one owner's call; the :class:`LegOwner` of those legs.

    The first leg to answer (and to confirm, when its target asks) wins; the others are
    CANCELed, or hung up if they answered too (RFC 3261 §9.1, §15). A leg that has not
    answered the network at all within NO_RESPONSE_SECONDS is hung up as unreachable. What a
    caller hears meanwhile, and how a leg is confirmed, stay with the owner."""

    def __init__(
        self,
        outbound: OutboundCalls,
        drive: Driver,
        endpoints: Callable[[], MediaEndpoint],
        planner: DialPlanner,
    ) -> None:
        self.outbound = outbound
        self.drive = drive
        self.endpoints = endpoints
        self.planner = planner

    # ---- LegOwner -----------------------------------------------------------------------------

    def ringing(self) -> None:
        pass  # each leg keeps its own ``rang``; what a caller hears is its owner's business

    def hang_up(self, leg: Leg, reason: str | None = None) -> None:
        call = leg.call
        if call is not None:
            self.drive(lambda now: self.outbound.hang_up(call, now, reason))

    # ---- ringing ------------------------------------------------------------------------------

    def place(self, target: DialTarget, planned: PlannedLeg) -> Leg:
        """One INVITE (:func:`place_leg`); its extension counts as busy until the leg closes."""
        leg = place_leg(
            self,
            self.outbound,
            self.drive,
            self.endpoints(),
            target,
            planned,
            self.planner.media_ip,
        )
        if planned.extension is not None:
            leg.release = self.planner.occupy(planned.extension)
        return leg

    async def first_answer(
        self,
        legs: Sequence[Leg],
        timeout: float,
        *,
        confirm: Confirm | None = None,
        abandoned: Callable[[], Awaitable[None]] | None = None,
    ) -> Leg | None:
        """The leg put through, or None when none was within ``timeout``; every other leg is
        let go. CallerHungUp once ``abandoned()`` returns (the caller went away)."""
        runs: dict[asyncio.Future[Any], Leg] = {
            asyncio.ensure_future(self._run_leg(leg, confirm)): leg for leg in legs
        }
        gone = asyncio.ensure_future(abandoned()) if abandoned is not None else None
        watched: set[asyncio.Future[Any]] = {gone} if gone is not None else set()
        winner: Leg | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            pending: set[asyncio.Future[Any]] = set(runs)
            while pending and winner is None:
                left = deadline - loop.time()
                if left <= 0:
                    break
                done, _ = await asyncio.wait(
                    pending | watched, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if gone is not None and gone in done:
                    raise CallerHungUp()
                for task in done:
                    pending.discard(task)
                    if task.result() is True and winner is None:
                        winner = runs[task]
        finally:
            if gone is not None:
                gone.cancel()
            for task, leg in runs.items():
                if leg is not winner:
                    task.cancel()
                    self.hang_up(leg, "call completed elsewhere" if winner else None)
        return winner

    async def _run_leg(self, leg: Leg, confirm: Confirm | None) -> bool:
        """True once the leg answered (and confirmed, when asked)."""
        try:
            async with asyncio.timeout(NO_RESPONSE_SECONDS):
                await leg.responded.wait()
        except TimeoutError:
            leg.silent = True
            self.hang_up(leg, "no response")
            return False
        # Shielded: cancelling this task (another leg won) must not cancel the outcome,
        # which the failed() or answered() still to come sets.
        status = await asyncio.shield(leg.outcome)
        if status != 200:
            return False
        if not leg.target.confirm or confirm is None:
            return True
        if await confirm(leg):
            return True
        leg.unconfirmed = True  # answered but not taken: counts as no answer
        self.hang_up(leg, "not confirmed")
        return False
