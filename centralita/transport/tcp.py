"""One TCP connection carrying SIP (RFC 3261 §18.3): framing in, bytes out, keep-alives,
idle timeout and write backpressure. Connection bookkeeping lives in ``connections.py``."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, cast

from centralita.sip.address import Address
from centralita.transport.framing import FramingError, StreamFramer
from centralita.transport.options import TransportOptions, TransportStats

log = logging.getLogger(__name__)

PONG = b"\r\n"  # RFC 5626 §4.4.1: the answer to a CRLFCRLF ping is one CRLF


class ConnectionOwner(Protocol):
    def connection_opened(self, connection: StreamConnection) -> bool: ...

    def connection_closed(self, connection: StreamConnection) -> None: ...

    def message_received(self, data: bytes, source: Address) -> None: ...


class StreamConnection(asyncio.Protocol):
    """A SIP connection, inbound or outbound. ``address`` names the peer and carries this
    connection's id, so responses can go back over it (RFC 3261 §18.2.2)."""

    def __init__(
        self,
        connection_id: int,
        owner: ConnectionOwner,
        options: TransportOptions,
        stats: TransportStats,
        *,
        inbound: bool,
    ) -> None:
        self.id = connection_id
        self.inbound = inbound
        self.address = Address("tcp", "", 0, connection_id)
        self._owner = owner
        self._options = options
        self._stats = stats
        self._framer = StreamFramer(
            max_header_size=options.max_header_size, max_body_size=options.max_body_size
        )
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_activity = self._loop.time()
        self.closed: asyncio.Future[None] = self._loop.create_future()

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = Address("tcp", str(peer[0]), int(peer[1]), self.id)
        if not self._owner.connection_opened(self):
            self._transport.abort()
            return
        self._transport.set_write_buffer_limits(
            high=self._options.write_buffer_high, low=self._options.write_buffer_low
        )
        self._arm_idle_timer(self._options.idle_timeout)

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        try:
            messages = self._framer.feed(data)
        except FramingError as exc:
            self._stats.framing_errors += 1
            log.info("closing %s: %s", self.address, exc.reason)
            self._deliver(exc.messages)
            # Unframed data cannot be answered: the SIP layer never saw a message.
            self.close()
            return
        self._answer_pings()
        self._deliver(messages)

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if exc is not None:
            log.debug("%s lost: %s", self.address, exc)
        self._owner.connection_closed(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        # The peer reads slower than it makes us write: stop reading its requests until our
        # buffer drains, instead of buffering without bound.
        if self.open:
            self._stats.reads_paused += 1
            cast(asyncio.Transport, self._transport).pause_reading()

    def resume_writing(self) -> None:
        if self.open:
            cast(asyncio.Transport, self._transport).resume_reading()

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the peer; raises ``ConnectionError`` when that is impossible."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionError(f"{self.address} is closed")
        if transport.get_write_buffer_size() + len(data) > self._options.max_write_buffer:
            transport.abort()
            raise ConnectionError(f"{self.address} is not reading; connection dropped")
        self._last_activity = self._loop.time()
        transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _deliver(self, messages: list[bytes]) -> None:
        for message in messages:
            self._stats.stream_messages_received += 1
            self._owner.message_received(message, self.address)

    def _answer_pings(self) -> None:
        pings = self._framer.pop_pings()
        if pings and self.open:
            self._stats.stream_pings += pings
            cast(asyncio.Transport, self._transport).write(PONG * pings)

    def _arm_idle_timer(self, delay: float) -> None:
        self._idle_timer = self._loop.call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        idle = self._loop.time() - self._last_activity
        remaining = self._options.idle_timeout - idle
        if remaining > 0:
            self._arm_idle_timer(remaining)
            return
        self._stats.connections_idle_closed += 1
        log.debug("closing %s: idle for %.0f s", self.address, idle)
        self.close()
