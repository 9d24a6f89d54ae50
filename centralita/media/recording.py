"""Whole-call recording of a relayed call: the tap on a relay session, clocked every 20 ms.

A :class:`RelayRecording` puts a packet transform on both RTP sockets of a
:class:`~centralita.media.session.RelaySession` that shows each packet to the
:class:`~centralita.media.tap.RecordingTap` and then does what the session's media plan says
(or passes the packet on). A session without a recording keeps the relay's untouched fast
path; a recorded one takes the transform path (one copy of the packet per hop). For a leg with
SRTP the tap sees the packet after unprotect (RFC 3711 §3.3), before any transcoding.

The session installs its own transforms whenever the media plan changes, so the owner calls
:meth:`RelayRecording.retap` after every ``set_media_plan``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from centralita.media.endpoint import Clock, PacketTransform, RelayEndpoint
from centralita.media.recorder import CallRecorder
from centralita.media.session import RelaySession
from centralita.media.tap import FRAME_SECONDS, RecordingTap
from centralita.media.transform import DirectionTransform

logger = logging.getLogger(__name__)

# Legs are named as in MediaPlan: "a" faces the caller (left channel), "b" the callee.
_LEG_INDEX = {"a": 0, "b": 1}


class RelayRecording:
    """Records ``session`` to ``path`` (stereo: leg A left, leg B right) from now until
    :meth:`close`. Raises ``OSError`` when the file cannot be created."""

    def __init__(
        self,
        session: RelaySession,
        path: Path,
        formats: Mapping[str, Mapping[int, str]] | None = None,
        *,
        stereo: bool = True,
        clock: Clock = time.monotonic,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.session = session
        self.recorder = CallRecorder(path, stereo=stereo)
        known = formats or {}
        self.tap = RecordingTap(
            self.recorder, clock(), formats_a=known.get("a"), formats_b=known.get("b")
        )
        self._clock = clock
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.retap()
        self._schedule()

    @property
    def path(self) -> Path:
        return self.recorder.path

    @property
    def duration(self) -> float:
        return self.tap.duration

    def set_formats(self, leg: str, formats: Mapping[int, str]) -> None:
        """What each payload type of ``leg``'s packets is (rtpmap values), after an SDP."""
        self.tap.set_formats(_LEG_INDEX[leg], formats)

    def retap(self) -> None:
        """(Re)install the tap around the session's current transforms."""
        if self.closed or self.session.closed:
            return
        a_to_b, b_to_a = self.session.transforms
        self._install(self.session.endpoint_a, 0, a_to_b)
        self._install(self.session.endpoint_b, 1, b_to_a)

    def close(self) -> None:
        """Write the rest (the file then lasts from start to now) and close it; idempotent.
        The session, if still open, goes back to its own transforms."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.session.closed:
            a_to_b, b_to_a = self.session.transforms
            _restore(self.session.endpoint_a, a_to_b)
            _restore(self.session.endpoint_b, b_to_a)
        try:
            self.tap.finish(self._clock())
        except OSError:
            logger.exception("recording %s: writing the end failed", self.path)
        finally:
            self._close_file()

    def _install(
        self, endpoint: RelayEndpoint, leg: int, direction: DirectionTransform | None
    ) -> None:
        rtcp = direction.rtcp if direction is not None and direction.has_srtp else None
        endpoint.set_transforms(self._tapped(leg, direction), rtcp)

    def _tapped(self, leg: int, direction: DirectionTransform | None) -> PacketTransform:
        tap, clock = self.tap, self._clock

        def see(packet: bytes) -> None:
            tap.packet(leg, packet, clock())

        if direction is None:

            def passing(packet: bytes) -> bytes | None:
                see(packet)
                return packet

            return passing
        # The tap sees the packet after SRTP unprotect, before any transcoding.
        return partial(direction.rtp, tap=see)

    def _schedule(self) -> None:
        self._timer = self._loop.call_later(FRAME_SECONDS, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.session.closed:
            self.close()
            return
        try:
            self.tap.advance(self._clock())
        except OSError:
            logger.exception("recording %s failed; stopped", self.path)
            self.close()
            return
        self._schedule()

    def _close_file(self) -> None:
        try:
            self.recorder.close()
        except OSError:
            logger.exception("recording %s: closing failed", self.path)


def _restore(endpoint: RelayEndpoint, direction: DirectionTransform | None) -> None:
    # What RelaySession installs for its plan (its _install).
    if direction is None:
        endpoint.set_transforms(None, None)
        return
    endpoint.set_transforms(direction.rtp, direction.rtcp if direction.has_srtp else None)
