"""The table of SIP stream connections: lookup by id and by peer, per-IP and overall caps,
and outbound connects with the data queued until they are up (RFC 3261 §18.1.1, §18.2.2)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from centralita.sip.address import Address
from centralita.transport.options import TransportOptions, TransportStats
from centralita.transport.tcp import StreamConnection

log = logging.getLogger(__name__)

MessageHandler = Callable[[bytes, Address], None]
ErrorHandler = Callable[[Address, Exception], None]
PeerKey = tuple[str, int]

_CLOSE_GRACE = 2.0  # seconds a closing connection may take to flush its write buffer


@dataclass
class _PendingConnect:
    queue: list[tuple[bytes, Address]]
    queued_bytes: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def peer_key(host: str, port: int) -> PeerKey:
    """One spelling per peer, so ``0:0::1`` and ``::1`` find the same connection."""
    address, percent, zone = host.partition("%")
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(address).compressed
    return (address + percent + zone, port)


class StreamConnections:
    """Owns every TCP connection; implements ``tcp.ConnectionOwner``."""

    def __init__(
        self,
        ids: itertools.count[int],
        on_message: MessageHandler,
        on_error: ErrorHandler,
        options: TransportOptions,
        stats: TransportStats,
    ) -> None:
        self._ids = ids
        self._on_message = on_message
        self._on_error = on_error
        self._options = options
        self._stats = stats
        self._by_id: dict[int, StreamConnection] = {}
        self._by_peer: dict[PeerKey, dict[int, StreamConnection]] = {}
        self._per_ip: Counter[str] = Counter()
        self._pending: dict[PeerKey, _PendingConnect] = {}
        self._closing = False

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, connection_id: int) -> StreamConnection | None:
        return self._by_id.get(connection_id)

    def inbound_factory(self) -> StreamConnection:
        return StreamConnection(next(self._ids), self, self._options, self._stats, inbound=True)

    # -- ConnectionOwner ------------------------------------------------------------------

    def connection_opened(self, connection: StreamConnection) -> bool:
        if self._closing or not self._admit(connection):
            return False
        self._by_id[connection.id] = connection
        key = peer_key(connection.address.host, connection.address.port)
        self._by_peer.setdefault(key, {})[connection.id] = connection
        if connection.inbound:
            self._per_ip[key[0]] += 1
            self._stats.connections_accepted += 1
        return True

    def connection_closed(self, connection: StreamConnection) -> None:
        if self._by_id.pop(connection.id, None) is None:
            return
        key = peer_key(connection.address.host, connection.address.port)
        peers = self._by_peer.get(key, {})
        peers.pop(connection.id, None)
        if not peers:
            self._by_peer.pop(key, None)
        if connection.inbound:
            self._per_ip[key[0]] -= 1
            if self._per_ip[key[0]] <= 0:
                del self._per_ip[key[0]]

    def message_received(self, data: bytes, source: Address) -> None:
        try:
            self._on_message(data, source)
        except Exception:
            self._stats.handler_errors += 1
            log.exception("message handler failed on a message from %s", source)

    # -- sending --------------------------------------------------------------------------

    def send(self, data: bytes, dest: Address) -> None:
        """Over ``dest.connection`` if open, else any open connection to the peer, else a
        new outbound connection (data queued meanwhile). Failures go to ``on_error``."""
        connection = self._by_id.get(dest.connection) if dest.connection is not None else None
        if connection is None or not connection.open:
            connection = self._find(peer_key(dest.host, dest.port))
        if connection is not None:
            self._write(connection, data, dest)
            return
        self._queue_connect(data, dest)

    def _find(self, key: PeerKey) -> StreamConnection | None:
        for connection in reversed(self._by_peer.get(key, {}).values()):
            if connection.open:
                return connection
        return None

    def _write(self, connection: StreamConnection, data: bytes, dest: Address) -> None:
        try:
            connection.send(data)
        except ConnectionError as exc:
            self._fail(dest, exc)

    def _queue_connect(self, data: bytes, dest: Address) -> None:
        key = peer_key(dest.host, dest.port)
        pending = self._pending.get(key)
        if pending is None:
            if self._closing:
                self._fail(dest, ConnectionError("transports are closing"))
                return
            if len(self._by_id) + len(self._pending) >= self._options.max_connections:
                self._fail(dest, ConnectionError("too many connections"))
                return
            pending = self._pending[key] = _PendingConnect(queue=[])
            pending.task = asyncio.get_running_loop().create_task(self._connect(key, pending))
        if pending.queued_bytes + len(data) > self._options.max_write_buffer:
            self._fail(dest, ConnectionError(f"too much data queued for {dest}"))
            return
        pending.queue.append((data, dest))
        pending.queued_bytes += len(data)

    async def _connect(self, key: PeerKey, pending: _PendingConnect) -> None:
        loop = asyncio.get_running_loop()
        connection = StreamConnection(
            next(self._ids), self, self._options, self._stats, inbound=False
        )
        try:
            async with asyncio.timeout(self._options.connect_timeout):
                await loop.create_connection(lambda: connection, key[0], key[1])
            if not connection.open:
                raise ConnectionError(f"connection to {key[0]}:{key[1]} closed at once")
        except Exception as exc:
            self._pending.pop(key, None)
            self._stats.connect_failures += 1
            log.debug("connecting to %s:%d failed: %r", key[0], key[1], exc)
            for _, dest in pending.queue:
                self._fail(dest, exc)
            return
        self._pending.pop(key, None)
        for data, dest in pending.queue:
            self._write(connection, data, dest)

    def _fail(self, dest: Address, exc: Exception) -> None:
        try:
            self._on_error(dest, exc)
        except Exception:
            self._stats.handler_errors += 1
            log.exception("error handler failed for %s", dest)

    def _admit(self, connection: StreamConnection) -> bool:
        if not connection.inbound:
            return True
        host = peer_key(connection.address.host, 0)[0]
        if len(self._by_id) >= self._options.max_connections:
            reason = "too many connections"
        elif self._per_ip[host] >= self._options.max_connections_per_ip:
            reason = f"too many connections from {host}"
        else:
            return True
        self._stats.connections_rejected += 1
        log.debug("refused a connection from %s: %s", connection.address, reason)
        return False

    # -- shutdown -------------------------------------------------------------------------

    async def close(self) -> None:
        self._closing = True
        tasks = [p.task for p in self._pending.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        connections = list(self._by_id.values())
        for connection in connections:
            connection.close()  # flushes what is already written
        closed = [c.closed for c in connections]
        if closed:
            _, stuck = await asyncio.wait(closed, timeout=_CLOSE_GRACE)
            for connection in connections:
                if not connection.closed.done():
                    connection.abort()
            await asyncio.gather(*stuck)
