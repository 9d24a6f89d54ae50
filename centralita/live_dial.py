"""The ``dial`` verb: ring targets from a call the PBX holds, then bridge the one that answers.

Theory of operation. A routed call (an IVR's option, a ring group, a forwarded call) is held
by the PBX as the UAS of the caller's dialog (:class:`~centralita.calls.appcall.AppCall`).
:func:`dial` places one outbound INVITE per reachable phone of each target
(:class:`~centralita.calls.outbound.OutboundCalls`; the PBX is the UAC, RFC 3261 §13.2),
each with its own RTP endpoint and SDP offer (RFC 3264 §5). While they ring, an unanswered
caller gets 180 Ringing (its phone plays ringback); an answered one hears a ringback tone or
music. The first leg to answer wins; the others are CANCELed (or hung up, if they answered
at the same moment). A leg marked ``confirm`` wins only once its answerer pressed 1 (a
mobile's own voicemail never presses it). The caller is answered then, if it was not, and
the two endpoints are bridged in PCM: what one side says is what the other hears, and key
presses (RFC 4733 or SIP INFO) are passed on as RFC 4733 events. ``dial`` returns when the
conversation ends, whichever side hangs up (the other side is hung up then): the answer is
reported either way, so the feature that dialled can log who took the call. A caller who
hangs up while it still rings makes it raise CallerHungUp, as every verb does.

Which phones a target has, and how an external number reaches a carrier, is the
:class:`DialPlanner`'s business (the server implements it from the registrar, the busy
state and the tenant's carriers). A :class:`Leg` and :func:`place_leg` serve any owner of
outbound legs (:class:`LegOwner`): the dial verb here, and the calls the PBX originates
itself (``centralita.originate``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from centralita.calls.call import Party
from centralita.calls.outbound import OutboundCall, OutboundCalls, OutboundTarget
from centralita.media.audio import FRAME_SAMPLES, Pcm, silence
from centralita.media.events import DtmfReceived
from centralita.media.negotiation import NegotiatedMedia, answer_offer
from centralita.media.offer import LocalOffer, accept_answer, make_offer
from centralita.media.player import Player
from centralita.media.rtp_endpoint import DtmfUnavailable, MediaEndpoint
from centralita.media.tones import tone_for
from centralita.routing.context import CallerHungUp, DialResult, DialStatus, DialTarget
from centralita.sip.address import Address
from centralita.sip.message import Request
from centralita.sip.offer_answer import LocalOrigin
from centralita.sip.sdp import SdpError, SdpNotAcceptable

if TYPE_CHECKING:
    from centralita.live import LiveCall

log = logging.getLogger("centralita.dial")

CONFIRM_SECONDS = 10.0  # how long a confirm leg's answerer has to press 1
# A phone that has not answered the network at all by now (not even 100 Trying, which a UAS
# sends within 200 ms, RFC 3261 §17.2.1; our INVITE went out three times by then, Timer A) is
# unreachable: its user's "unreachable" forwarding applies, not "no answer".
NO_RESPONSE_SECONDS = 4.0
CONFIRM_KEY = "1"
_BRIDGE_FRAMES = 5  # at most 100 ms of audio waits between the two endpoints' clocks

# How targets' statuses sum up: the most telling first (DialResult's docstring).
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


class _Pipe:
    """Audio from one endpoint's receiver to the other's sender: a short queue that drops
    the oldest frame when the two 20 ms clocks drift apart."""

    def __init__(self) -> None:
        self.frames: collections.deque[Pcm] = collections.deque(maxlen=_BRIDGE_FRAMES)

    def push(self, frame: Pcm) -> None:
        self.frames.append(frame)

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        return self.frames.popleft() if self.frames else silence(samples)


class LegOwner(Protocol):
    """Who placed a :class:`Leg`, told of its ringing and asked to end it."""

    def ringing(self) -> None: ...

    def hang_up(self, leg: Leg, reason: str | None = None) -> None: ...


class Leg:
    """One outbound INVITE and its media; the OutboundListener of that call."""

    def __init__(
        self, owner: LegOwner, target: DialTarget, planned: PlannedLeg, endpoint: MediaEndpoint
    ) -> None:
        self.dialler = owner
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

    # ---- OutboundListener (inside the sans-I/O driver) --------------------------------------

    def progressed(self, status: int, body: bytes) -> None:
        self.responded.set()
        if status in (180, 183):
            self.rang = True
            self.dialler.ringing()

    def answered(self, body: bytes) -> None:
        assert self.offer is not None
        try:
            self.media = accept_answer(self.offer, body)
        except SdpError as error:
            log.warning("answer refused: %s", error.detail)
            self._settle(error.status_code)
            self.dialler.hang_up(self, "unacceptable SDP")
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
        media = answer_offer(
            body, self.origin.origin.address, self.endpoint.local_port, self.origin
        )
        if media.codec.name != self.media.codec.name:
            raise SdpNotAcceptable(f"the call continues with {self.media.codec.name}")
        self.endpoint.update_remote(media.remote, media.rtcp)
        self.endpoint.set_hold(media.on_hold)
        return media.answer

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


class Dialler:
    """The dial verb of one live call."""

    def __init__(self, live: LiveCall, outbound: OutboundCalls, planner: DialPlanner) -> None:
        self.live = live
        self.outbound = outbound
        self.planner = planner
        self._rang = asyncio.Event()

    # ---- called from legs ---------------------------------------------------------------------

    def ringing(self) -> None:
        self._rang.set()

    def hang_up(self, leg: Leg, reason: str | None = None) -> None:
        call = leg.call
        if call is not None:
            self.live.drive(lambda now: self.outbound.hang_up(call, now, reason))

    # ---- the verb -------------------------------------------------------------------------------

    async def dial(
        self,
        targets: Sequence[DialTarget],
        timeout: float,
        *,
        caller_id: str | None = None,
        music: bool = False,
    ) -> DialResult:
        live = self.live
        if live.has_ended:
            raise CallerHungUp()
        statuses: dict[str, list[DialStatus]] = {t.number: [] for t in targets}
        legs: list[Leg] = []
        try:
            for target in targets:
                planned = await self.planner.legs(live.call.target.caller, target, caller_id)
                if isinstance(planned, DialStatus):
                    statuses[target.number].append(planned)
                    continue
                for one in planned:
                    legs.append(self._place(target, one))
            live.note(
                node="dial",
                targets=[t.number for t in targets],
                legs=len(legs),
                timeout=timeout,
            )
            winner = await self._ring(legs, timeout, music) if legs else None
            for leg in legs:
                if leg is not winner:
                    statuses[leg.target.number].append(self._leg_status(leg))
            if winner is None:
                return self._result(statuses, None, 0.0)
            statuses[winner.target.number].append(DialStatus.ANSWERED)
            talk = await self._bridge(winner)
            return self._result(statuses, winner.target.number, talk)
        finally:
            for leg in legs:
                self._finish(leg)

    # ---- ringing ------------------------------------------------------------------------------

    def _place(self, target: DialTarget, planned: PlannedLeg) -> Leg:
        live = self.live
        leg = place_leg(
            self,
            self.outbound,
            live.drive,
            live.media.endpoints(),
            target,
            planned,
            self.planner.media_ip,
        )
        if planned.extension is not None:
            leg.release = self.planner.occupy(planned.extension)
        return leg

    async def _ring(self, legs: list[Leg], timeout: float, music: bool) -> Leg | None:
        live = self.live
        feeder = None
        if live.answered:
            feeder = asyncio.ensure_future(self._while_ringing(music))
        else:
            await live.ring()
        runs: dict[asyncio.Future[Any], Leg] = {
            asyncio.ensure_future(self._run_leg(leg)): leg for leg in legs
        }
        ended = asyncio.ensure_future(live.wait_ended())
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
                    pending | {ended}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if ended in done:
                    raise CallerHungUp()
                for task in done:
                    pending.discard(task)
                    leg = runs[task]
                    if task.result() is True and winner is None:
                        winner = leg
        finally:
            ended.cancel()
            for task, leg in runs.items():
                if leg is not winner:
                    task.cancel()
                    self.hang_up(leg, "call completed elsewhere" if winner else None)
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError, CallerHungUp):
                    await feeder
        return winner

    async def _run_leg(self, leg: Leg) -> bool:
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
        if not leg.target.confirm:
            return True
        if await self._confirmed(leg):
            return True
        leg.unconfirmed = True  # answered but not taken: counts as no answer
        self.hang_up(leg, "not confirmed")
        return False

    async def _confirmed(self, leg: Leg) -> bool:
        """Ask the answerer to press 1 (a mobile's voicemail will not)."""
        clip = await asyncio.to_thread(
            self.live.media.prompts.get, "press_1_to_accept", self.live.language, self.live.tenant
        )
        player = Player([clip, silence(8000)], loop=True)
        leg.endpoint.source = player
        try:
            async with asyncio.timeout(CONFIRM_SECONDS):
                while True:
                    event = await leg.keys.get()
                    if event.digit == CONFIRM_KEY:
                        return True
        except TimeoutError:
            return False
        finally:
            if leg.endpoint.source is player:
                leg.endpoint.source = None

    async def _while_ringing(self, music: bool) -> None:
        """What an answered caller hears while the targets ring."""
        if music:
            await self.live.music_on_hold()
            return
        endpoint = self.live.endpoint
        if endpoint is None:
            return
        tone = tone_for("ringback", self.live.country)
        endpoint.source = tone
        try:
            await self.live.wait_ended()
        finally:
            if endpoint.source is tone:
                endpoint.source = None

    # ---- talking ------------------------------------------------------------------------------

    async def _bridge(self, leg: Leg) -> float:
        live = self.live
        try:
            await live.answer()
        except BaseException:
            self.hang_up(leg, "caller gone")
            raise
        a_side, b_side = live.endpoint, leg.endpoint
        assert a_side is not None
        to_b, to_a = _Pipe(), _Pipe()
        live.add_audio_listener(to_b.push)
        b_side.source, a_side.source = to_b, to_a
        b_side.on_audio = to_a.push
        leg.on_key = lambda event: _send_key(a_side, event.digit)
        live.on_key = lambda event: _send_key(b_side, event.digit)
        live.detect_inband = False
        live.call.answered_by = leg.target.number
        live.note(node="bridged", to=leg.target.number)
        loop = asyncio.get_running_loop()
        started = loop.time()
        ended = asyncio.ensure_future(live.wait_ended())
        gone = asyncio.ensure_future(leg.ended.wait())
        try:
            done, _ = await asyncio.wait({ended, gone}, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                self.hang_up(leg, "caller hung up")
            return loop.time() - started
        finally:
            ended.cancel()
            gone.cancel()
            live.remove_audio_listener(to_b.push)
            live.on_key = None
            live.detect_inband = True
            if a_side.source is to_a:
                a_side.source = None

    # ---- ending -------------------------------------------------------------------------------

    def _finish(self, leg: Leg) -> None:
        leg.endpoint.close()
        if leg.release is not None:
            leg.release()
            leg.release = None

    def _leg_status(self, leg: Leg) -> DialStatus:
        if leg.silent:
            return DialStatus.UNREACHABLE
        if not leg.outcome.done() or leg.outcome.cancelled() or leg.unconfirmed:
            return DialStatus.NO_ANSWER
        status = leg.outcome.result()
        if status == 200:
            return DialStatus.NO_ANSWER  # answered too late, or after another leg won
        return status_of(status)

    def _result(
        self, statuses: dict[str, list[DialStatus]], answered_by: str | None, talk: float
    ) -> DialResult:
        per_target = {
            number: summed(found or [DialStatus.FAILED]) for number, found in statuses.items()
        }
        overall = DialStatus.ANSWERED if answered_by else summed(list(per_target.values()))
        self.live.note(
            node="dial_result",
            status=overall.value,
            answered_by=answered_by,
            targets={n: s.value for n, s in per_target.items()},
        )
        return DialResult(overall, answered_by, per_target, round(talk, 3))


def _send_key(endpoint: MediaEndpoint, digit: str) -> None:
    with contextlib.suppress(DtmfUnavailable, ValueError):
        endpoint.send_dtmf(digit)
