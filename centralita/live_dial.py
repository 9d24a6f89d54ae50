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
:class:`~centralita.ringing.DialPlanner`'s business (the server implements it from the
registrar, the busy state and the tenant's carriers). Placing and ringing the legs is the
:class:`~centralita.ringing.Ringer`'s (first answer wins, the others are let go, a phone that
never answers the network is unreachable).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from centralita.calls.outbound import OutboundCalls
from centralita.media.audio import FRAME_SAMPLES, Pcm, silence
from centralita.media.player import Player
from centralita.media.rtp_endpoint import DtmfUnavailable, MediaEndpoint
from centralita.media.tones import tone_for
from centralita.ringing import (
    DialPlanner,
    Leg,
    PlannedLeg,
    Ringer,
    status_of,
    summed,
)
from centralita.routing.context import CallerHungUp, DialResult, DialStatus, DialTarget

if TYPE_CHECKING:
    from centralita.live import LiveCall

log = logging.getLogger("centralita.dial")

CONFIRM_SECONDS = 10.0  # how long a confirm leg's answerer has to press 1
CONFIRM_KEY = "1"
_BRIDGE_FRAMES = 5  # at most 100 ms of audio waits between the two endpoints' clocks


# How targets' statuses sum up: the most telling first (DialResult's docstring).
class _Pipe:
    """Audio from one endpoint's receiver to the other's sender: a short queue that drops
    the oldest frame when the two 20 ms clocks drift apart."""

    def __init__(self) -> None:
        self.frames: collections.deque[Pcm] = collections.deque(maxlen=_BRIDGE_FRAMES)

    def push(self, frame: Pcm) -> None:
        self.frames.append(frame)

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        return self.frames.popleft() if self.frames else silence(samples)


class Dialler:
    """The dial verb of one live call."""

    def __init__(self, live: LiveCall, outbound: OutboundCalls, planner: DialPlanner) -> None:
        self.live = live
        self.planner = planner
        self.ringer = Ringer(outbound, live.drive, live.media.endpoints, planner)

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
                    legs.append(self.ringer.place(target, one))
            live.note(
                node="dial",
                targets=[t.number for t in targets],
                legs=len(legs),
                timeout=timeout,
            )
            winner = await self._ring(legs, timeout, music) if legs else None
            for leg in legs:
                if leg is not winner:
                    statuses[leg.target.number].append(leg.unanswered_status())
            if winner is None:
                return self._result(statuses, None, 0.0)
            statuses[winner.target.number].append(DialStatus.ANSWERED)
            talk = await self._bridge(winner)
            return self._result(statuses, winner.target.number, talk)
        finally:
            for leg in legs:
                leg.close()

    # ---- ringing ------------------------------------------------------------------------------

    async def _ring(self, legs: list[Leg], timeout: float, music: bool) -> Leg | None:
        live = self.live
        feeder = None
        if live.answered:
            feeder = asyncio.ensure_future(self._while_ringing(music))
        else:
            await live.ring()
        try:
            return await self.ringer.first_answer(
                legs, timeout, confirm=self._confirmed, abandoned=live.wait_ended
            )
        finally:
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError, CallerHungUp):
                    await feeder

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
            self.ringer.hang_up(leg, "caller gone")
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
                self.ringer.hang_up(leg, "caller hung up")
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


__all__ = [
    "DialPlanner",
    "Dialler",
    "Leg",
    "PlannedLeg",
    "status_of",
    "summed",
]
