"""The UDP endpoint: one bound socket, datagrams in and out (RFC 3261 §18.1.1, §18.2.1)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from centralita.sip.address import Address
from centralita.transport import stun
from centralita.transport.options import TransportOptions, TransportStats

log = logging.getLogger(__name__)

MessageHandler = Callable[[bytes, Address], None]


class UdpEndpoint(asyncio.DatagramProtocol):
    """Receives datagrams for the SIP layer. Each arrives with an ``Address`` whose
    ``connection`` is this endpoint's id, so the answer can leave from the socket the request
    came to (RFC 3581 §4: the response is sent from the address and port it was received on).
    """

    def __init__(
        self,
        endpoint_id: int,
        on_message: MessageHandler,
        options: TransportOptions,
        stats: TransportStats,
    ) -> None:
        self.id = endpoint_id
        self._on_message = on_message
        self._options = options
        self._stats = stats
        self._transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.local: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (str(sockname[0]), int(sockname[1]))

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._stats.datagrams_received += 1
        host, port = str(addr[0]), int(addr[1])
        if not self._acceptable(data, host, port):
            return
        try:
            self._on_message(data, Address("udp", host, port, self.id))
        except Exception:
            self._stats.handler_errors += 1
            log.exception("message handler failed on a datagram from %s:%d", host, port)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on an unconnected socket name no destination; the SIP layer learns of
        # the failure by its own timers (RFC 3261 §17.1.1.2 Timer B).
        log.debug("UDP endpoint %s: %s", self.local, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, data: bytes, host: str, port: int) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError(f"UDP endpoint {self.local} is closed")
        self._transport.sendto(data, (host, port))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _acceptable(self, data: bytes, host: str, port: int) -> bool:
        if not data:
            self._stats.datagrams_dropped_empty += 1
            log.debug("dropped an empty datagram from %s:%d", host, port)
            return False
        if len(data) > self._options.max_datagram_size:
            self._stats.datagrams_dropped_oversize += 1
            log.debug("dropped a %d-byte datagram from %s:%d", len(data), host, port)
            return False
        if not data.strip(b"\r\n"):
            # CRLF keep-alives over UDP are not defined (RFC 5626 §4.4.2 uses STUN there);
            # many UAs send them anyway to refresh NAT bindings. Nothing to answer.
            self._stats.udp_keepalives += 1
            return False
        if stun.is_stun(data):
            self._answer_stun(data, host, port)
            return False
        return True

    def _answer_stun(self, data: bytes, host: str, port: int) -> None:
        self._stats.stun_requests += 1
        response = stun.binding_response(data, host, port)
        if response is not None and self._transport is not None:
            self._transport.sendto(response, (host, port))
