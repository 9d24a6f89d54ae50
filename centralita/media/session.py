"""A relayed call's media: two endpoints, A facing the caller and B facing the callee.

Theory of operation. The B2BUA anchors media: each leg's SDP names one of our endpoints, so
RTP flows caller -> A -> B -> callee and back, RTCP likewise one port up. The session watches
for a dead call: when no RTP has arrived from either side for ``inactivity_timeout`` seconds it
reports through ``on_inactive(session)`` (once, until media flows again), so the call layer can
hang up a call whose phones vanished without a BYE (RFC 3550 §6.3.5 applies the same idea to
members; rtpengine and Kamailio's rtpproxy do the same for calls). A call on hold may send
nothing at all (``sendonly``/``inactive``, RFC 3264 §8.4), so ``set_hold(True)`` suspends the
check; resuming restarts the timeout from that moment.

The check is sans-I/O (``check_inactivity(now)``); ``MediaRelay`` calls it periodically.

Packets pass untouched unless ``set_media_plan`` gives a plan that transcodes or uses SRTP on
a leg (:mod:`centralita.media.transform`); a pass-through plan restores the untouched path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from centralita.media.endpoint import Clock, RelayEndpoint
from centralita.media.transform import DirectionTransform, MediaPlan, PlanRuntime

DEFAULT_INACTIVITY_TIMEOUT = 60.0

InactivityCallback = Callable[["RelaySession"], None]


class RelaySession:
    """Joins ``endpoint_a`` and ``endpoint_b`` and starts relaying at once."""

    def __init__(
        self,
        endpoint_a: RelayEndpoint,
        endpoint_b: RelayEndpoint,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Clock = time.monotonic,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        on_inactive: InactivityCallback | None = None,
        on_closed: Callable[[RelaySession], None] | None = None,
    ) -> None:
        self.endpoint_a = endpoint_a
        self.endpoint_b = endpoint_b
        self.inactivity_timeout = inactivity_timeout
        self.on_inactive = on_inactive
        self._clock = clock
        self._on_closed = on_closed
        self._since = clock()
        self._on_hold = False
        self._reported = False
        self._closed = False
        self._runtime: PlanRuntime | None = None
        running = loop if loop is not None else asyncio.get_running_loop()
        endpoint_a.connect(endpoint_b, running)
        endpoint_b.connect(endpoint_a, running)

    @property
    def on_hold(self) -> bool:
        return self._on_hold

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def media_plan(self) -> MediaPlan | None:
        return None if self._runtime is None else self._runtime.plan

    @property
    def transforms(self) -> tuple[DirectionTransform | None, DirectionTransform | None]:
        """The running transforms (caller to callee, callee to caller); None passes."""
        runtime = self._runtime
        return (None, None) if runtime is None else (runtime.a_to_b, runtime.b_to_a)

    def set_media_plan(self, plan: MediaPlan | None) -> None:
        """Transcode and/or protect from now on as ``plan`` says (None: pass untouched).
        Parts of the plan that did not change keep their state (SRTP, codecs)."""
        if plan is None or plan.is_passthrough:
            self._runtime = None
            self.endpoint_a.set_transforms(None, None)
            self.endpoint_b.set_transforms(None, None)
            return
        runtime = self._runtime if self._runtime is not None else PlanRuntime()
        runtime.update(plan)
        self._runtime = runtime
        self._install(self.endpoint_a, runtime.a_to_b)
        self._install(self.endpoint_b, runtime.b_to_a)

    @staticmethod
    def _install(endpoint: RelayEndpoint, transform: DirectionTransform | None) -> None:
        if transform is None:
            endpoint.set_transforms(None, None)
            return
        rtcp = transform.rtcp if transform.has_srtp else None
        endpoint.set_transforms(transform.rtp, rtcp)

    def set_hold(self, on_hold: bool) -> None:
        """Suspend (``True``) or resume the inactivity check; media keeps flowing either way."""
        if self._on_hold and not on_hold:
            self._since = self._clock()
            self._reported = False
        self._on_hold = on_hold

    def last_rtp_at(self) -> float:
        """The latest RTP arrival from either side, or when watching (re)started if later."""
        latest = self._since
        for endpoint in (self.endpoint_a, self.endpoint_b):
            seen = endpoint.rtp_stats.last_packet_at
            if seen is not None and seen > latest:
                latest = seen
        return latest

    def check_inactivity(self, now: float) -> bool:
        """Report through ``on_inactive`` if RTP has stopped; True when it reported now."""
        if self._closed or self._on_hold:
            return False
        if now - self.last_rtp_at() < self.inactivity_timeout:
            self._reported = False
            return False
        if self._reported:
            return False
        self._reported = True
        if self.on_inactive is not None:
            self.on_inactive(self)
        return True

    def close(self) -> None:
        """Stop relaying and release both port pairs; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.endpoint_a.close()
        self.endpoint_b.close()
        if self._on_closed is not None:
            self._on_closed(self)

    def __repr__(self) -> str:
        return f"RelaySession(a={self.endpoint_a!r}, b={self.endpoint_b!r})"
