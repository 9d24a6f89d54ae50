"""``SipTransports``: every SIP socket of the process behind one send/receive interface.

The transports move bytes only. Received messages go to ``on_message(data, source)`` whole
(one datagram, or one framed message of a stream); ``send(data, dest)`` never blocks and never
raises for network trouble: failures reach ``on_error(dest, exc)``."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from dataclasses import dataclass

from centralita.sip.address import Address
from centralita.transport.connections import ErrorHandler, MessageHandler, StreamConnections
from centralita.transport.listen import ListenSpec
from centralita.transport.options import TransportOptions, TransportStats
from centralita.transport.sockets import (
    bind_socket,
    family_of,
    is_unspecified,
    resolve_listen_host,
    source_address_towards,
)
from centralita.transport.udp import UdpEndpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Listener:
    transport: str
    family: socket.AddressFamily
    host: str
    port: int
    endpoint: UdpEndpoint | None  # the UDP endpoint; None for a TCP server


def _log_error(dest: Address, exc: Exception) -> None:
    log.warning("cannot send to %s: %s", dest, exc)


class SipTransports:
    """UDP endpoints, TCP servers and TCP connections of one process."""

    def __init__(self, options: TransportOptions | None = None) -> None:
        self.options = options or TransportOptions()
        self.stats = TransportStats()
        self._ids = itertools.count(1)
        self._listeners: list[_Listener] = []
        self._servers: list[asyncio.Server] = []
        self._udp: dict[int, UdpEndpoint] = {}
        self._streams: StreamConnections | None = None
        self._on_error: ErrorHandler = _log_error

    async def start(
        self,
        specs: list[ListenSpec],
        on_message: MessageHandler,
        on_error: ErrorHandler | None = None,
    ) -> None:
        """Bind every spec (a host name binds each address it resolves to). On failure the
        sockets already bound are closed and the ``OSError`` propagates."""
        if self._streams is not None:
            raise RuntimeError("transports already started")
        self._on_error = on_error or _log_error
        self._streams = StreamConnections(
            self._ids, on_message, self._on_error, self.options, self.stats
        )
        try:
            for spec in specs:
                for host in await resolve_listen_host(spec):
                    await self._bind(spec, host, on_message)
        except BaseException:
            await self.close()
            raise

    @property
    def listen_addresses(self) -> list[Address]:
        """Where we listen, with the ports the OS chose for port 0."""
        return [Address(item.transport, item.host, item.port) for item in self._listeners]

    @property
    def connection_count(self) -> int:
        return len(self._streams) if self._streams is not None else 0

    def send(self, data: bytes, dest: Address) -> None:
        """Send without blocking; see the module docstring for how failures are reported."""
        if dest.transport == "udp":
            self._send_udp(data, dest)
        elif dest.transport == "tcp" and self._streams is not None:
            self._streams.send(data, dest)
        else:
            self._on_error(dest, ConnectionError(f"no {dest.transport} transport"))

    def local_address(
        self, transport: str, family: socket.AddressFamily, toward: str | None = None
    ) -> tuple[str, int]:
        """The host and port to put in Via and Contact for ``transport`` and ``family``
        (RFC 3261 §18.1.1 sent-by). A wildcard bind is replaced by the local address the
        kernel would use towards ``toward`` (or its default route, or loopback)."""
        listener = self._listener(transport, family, None)
        return self._advertised(listener, toward)

    def local_address_for(self, dest: Address) -> tuple[str, int]:
        """Like ``local_address`` for a message to ``dest``; for UDP this is the endpoint the
        message will leave from (``dest.connection`` names it when it came from a request)."""
        listener = self._listener(dest.transport, family_of(dest.host), dest.connection)
        return self._advertised(listener, dest.host)

    async def close(self) -> None:
        """Close every socket and connection and wait until they are gone."""
        for server in self._servers:
            server.close()
        if self._streams is not None:
            await self._streams.close()
        for server in self._servers:
            await server.wait_closed()
        for endpoint in self._udp.values():
            endpoint.close()
        await asyncio.gather(*(endpoint.closed for endpoint in self._udp.values()))
        self._servers.clear()
        self._udp.clear()
        self._listeners.clear()

    async def _bind(self, spec: ListenSpec, host: str, on_message: MessageHandler) -> None:
        loop = asyncio.get_running_loop()
        sock = bind_socket(spec.transport, host, spec.port, reuse_port=spec.reuse_port)
        bound_host, bound_port = str(sock.getsockname()[0]), int(sock.getsockname()[1])
        endpoint: UdpEndpoint | None = None
        if spec.transport == "udp":
            endpoint_id = next(self._ids)
            _, endpoint = await loop.create_datagram_endpoint(
                lambda: UdpEndpoint(endpoint_id, on_message, self.options, self.stats),
                sock=sock,
            )
            self._udp[endpoint.id] = endpoint
        else:
            assert self._streams is not None
            server = await loop.create_server(self._streams.inbound_factory, sock=sock)
            self._servers.append(server)
        family = family_of(bound_host)
        self._listeners.append(_Listener(spec.transport, family, bound_host, bound_port, endpoint))
        log.info("listening on %s", Address(spec.transport, bound_host, bound_port))

    def _send_udp(self, data: bytes, dest: Address) -> None:
        try:
            listener = self._listener("udp", family_of(dest.host), dest.connection)
            assert listener.endpoint is not None
            listener.endpoint.send(data, dest.host, dest.port)
        except (OSError, ValueError) as exc:
            self._on_error(dest, exc)

    def _listener(
        self, transport: str, family: socket.AddressFamily, endpoint_id: int | None
    ) -> _Listener:
        candidates = [
            item
            for item in self._listeners
            if item.transport == transport and item.family == family
        ]
        for item in candidates:
            if item.endpoint is not None and item.endpoint.id == endpoint_id:
                return item
        if not candidates:
            name = "IPv4" if family == socket.AF_INET else "IPv6"
            raise ConnectionError(f"not listening on {transport} over {name}")
        return candidates[0]

    def _advertised(self, listener: _Listener, toward: str | None) -> tuple[str, int]:
        if not is_unspecified(listener.host):
            return listener.host, listener.port
        return source_address_towards(toward, listener.family), listener.port
