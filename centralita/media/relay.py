"""The media relay of one worker: creates relay sessions on the RTP port pool and watches them.

A ``MediaRelay`` belongs to one event loop (one worker process, DESIGN.md "Scaling out"); it
owns no global state, so several can live side by side in tests.
"""

from __future__ import annotations

import asyncio
import logging
import time

from centralita.media.endpoint import Clock, ReceiveBuffer, RelayEndpoint
from centralita.media.latching import RELATCH_AFTER, RTCP_RELATCH_AFTER
from centralita.media.ports import PortPair, RtpPortPool
from centralita.media.session import DEFAULT_INACTIVITY_TIMEOUT, InactivityCallback, RelaySession

logger = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL = 5.0


class MediaRelay:
    """Factory and watchdog of ``RelaySession``s sharing one ``RtpPortPool``."""

    def __init__(
        self,
        ports: RtpPortPool,
        *,
        clock: Clock = time.monotonic,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        relatch_after: float = RELATCH_AFTER,
        rtcp_relatch_after: float = RTCP_RELATCH_AFTER,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
    ) -> None:
        self.ports = ports
        self.inactivity_timeout = inactivity_timeout
        self.check_interval = check_interval
        self._clock = clock
        self._relatch_after = relatch_after
        self._rtcp_relatch_after = rtcp_relatch_after
        self._buffer = ReceiveBuffer()
        self._sessions: set[RelaySession] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def sessions(self) -> frozenset[RelaySession]:
        return frozenset(self._sessions)

    def create_session(
        self,
        host_a: str | None = None,
        host_b: str | None = None,
        *,
        on_inactive: InactivityCallback | None = None,
    ) -> RelaySession:
        """Allocate two port pairs (leg A on ``host_a``, leg B on ``host_b``, default the
        pool's host) and start relaying between them. Must run inside the event loop.
        Raises ``NoMediaPorts`` (503) when the range is exhausted."""
        loop = asyncio.get_running_loop()
        ports_a = self.ports.allocate(host_a)
        try:
            ports_b = self.ports.allocate(host_b)
        except BaseException:
            ports_a.close()
            raise
        endpoint_a, endpoint_b = self._endpoint(ports_a, "A"), self._endpoint(ports_b, "B")
        try:
            session = RelaySession(
                endpoint_a,
                endpoint_b,
                loop=loop,
                clock=self._clock,
                inactivity_timeout=self.inactivity_timeout,
                on_inactive=on_inactive,
                on_closed=self._sessions.discard,
            )
        except BaseException:
            endpoint_a.close()
            endpoint_b.close()
            raise
        self._sessions.add(session)
        return session

    def check_inactivity(self, now: float) -> list[RelaySession]:
        """Run every session's inactivity check; the sessions that reported now."""
        reported = []
        for session in list(self._sessions):
            try:
                if session.check_inactivity(now):
                    reported.append(session)
            except Exception:
                logger.exception("on_inactive callback failed for %r", session)
        return reported

    def start(self) -> None:
        """Run the inactivity check every ``check_interval`` seconds on the running loop."""
        if self._timer is None:
            self._schedule(asyncio.get_running_loop())

    def close(self) -> None:
        """Stop the watchdog and close every session."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for session in list(self._sessions):
            session.close()

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_later(self.check_interval, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self.check_inactivity(self._clock())
        self._schedule(loop)

    def _endpoint(self, ports: PortPair, leg: str) -> RelayEndpoint:
        return RelayEndpoint(
            ports,
            clock=self._clock,
            relatch_after=self._relatch_after,
            rtcp_relatch_after=self._rtcp_relatch_after,
            buffer=self._buffer,
            name=f"leg {leg} {ports.host}:{ports.port}",
        )
