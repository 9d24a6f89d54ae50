"""One leg's side of the relay: a local RTP+RTCP socket pair and the remote it talks to.

Packets received on an endpoint's socket are handed to the twin socket of the *other*
endpoint of the session, which sends them to its own remote. No decoding: the relay passes
packets through untouched, which is right when both legs negotiated the same codec. When
they did not, or a leg uses SRTP, the session installs a transform per socket
(:mod:`centralita.media.transform`) that the packet goes through before it is sent on.

The per-packet path (``_Stream.on_readable``) is deliberately flat: one ``recvfrom_into`` into
a shared buffer, a header check on one octet, the latch test, one ``sendto`` of a memoryview
slice. No logging, no per-packet objects beyond what the socket calls themselves return.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

from centralita.media.latching import (
    MAX_DATAGRAM,
    RELATCH_AFTER,
    RTCP_MIN_LENGTH,
    RTCP_RELATCH_AFTER,
    RTP_MIN_LENGTH,
    Latch,
    SockAddr,
    looks_like_rtp,
)
from centralita.media.ports import PortPair
from centralita.media.socket_pair import SocketPairEndpoint
from centralita.media.stats import StreamStats

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
# Turns a received packet into the packet for the other leg, or None to drop it.
PacketTransform = Callable[[bytes], bytes | None]


class ReceiveBuffer:
    """Scratch space for one packet; a relay's streams share one (they run on one thread)."""

    __slots__ = ("data", "view")

    def __init__(self, size: int = MAX_DATAGRAM) -> None:
        self.data = bytearray(size)
        self.view = memoryview(self.data)


class _Stream:
    """One socket of an endpoint: RTP, or RTCP on the port above it."""

    __slots__ = ("buffer", "clock", "latch", "min_length", "peer", "sock", "stats", "transform")

    def __init__(
        self,
        sock: socket.socket,
        latch: Latch,
        min_length: int,
        clock: Clock,
        buffer: ReceiveBuffer,
    ) -> None:
        self.sock = sock
        self.latch = latch
        self.min_length = min_length
        self.clock = clock
        self.buffer = buffer
        self.stats = StreamStats()
        self.peer: _Stream | None = None
        self.transform: PacketTransform | None = None

    def on_readable(self) -> None:
        buffer = self.buffer
        try:
            length, source = self.sock.recvfrom_into(buffer.data)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.stats.dropped_invalid += 1
            return
        stats = self.stats
        # RTCP shares the version field and layout of the first octet with RTP (RFC 3550 §6.4.1).
        if not looks_like_rtp(buffer.data[0], length, self.min_length):
            stats.dropped_invalid += 1
            return
        now = self.clock()
        if not self.latch.admit(source, now):
            stats.dropped_source += 1
            return
        stats.packets += 1
        stats.bytes += length
        stats.last_packet_at = now
        peer = self.peer
        destination = None if peer is None else peer.latch.destination
        if peer is None or destination is None:
            stats.dropped_unrouted += 1
            return
        if self.transform is not None:
            self._send_transformed(self.transform, length, peer.sock, destination)
            return
        try:
            peer.sock.sendto(buffer.view[:length], destination)
        except OSError:
            stats.send_errors += 1

    def _send_transformed(
        self, transform: PacketTransform, length: int, sock: socket.socket, destination: SockAddr
    ) -> None:
        # Packets the transform drops are counted by the transform itself.
        packet = transform(bytes(self.buffer.view[:length]))
        if packet is None:
            return
        try:
            sock.sendto(packet, destination)
        except OSError:
            self.stats.send_errors += 1


class RelayEndpoint(SocketPairEndpoint):
    """Our side of one leg: ``local_port`` (RTP; RTCP is ``local_port + 1``) and the remote.

    Counters (``rtp_stats``, ``rtcp_stats``) are for packets received *from* this endpoint's
    remote, i.e. one direction of the call.
    """

    def __init__(
        self,
        ports: PortPair,
        *,
        clock: Clock = time.monotonic,
        relatch_after: float = RELATCH_AFTER,
        rtcp_relatch_after: float = RTCP_RELATCH_AFTER,
        buffer: ReceiveBuffer | None = None,
        name: str = "",
    ) -> None:
        rtp_latch = Latch(relatch_after, self._latched("RTP"))
        rtcp_latch = Latch(rtcp_relatch_after, self._latched("RTCP"))
        super().__init__(ports, rtp_latch, rtcp_latch, name)
        shared = buffer if buffer is not None else ReceiveBuffer()
        self._rtp = _Stream(ports.rtp, rtp_latch, RTP_MIN_LENGTH, clock, shared)
        self._rtcp = _Stream(ports.rtcp, rtcp_latch, RTCP_MIN_LENGTH, clock, shared)

    @property
    def rtp_stats(self) -> StreamStats:
        return self._rtp.stats

    @property
    def rtcp_stats(self) -> StreamStats:
        return self._rtcp.stats

    @property
    def latched_rtcp(self) -> SockAddr | None:
        return self._rtcp_latch.source

    def set_remote(self, rtp: tuple[str, int], rtcp: tuple[str, int] | None = None) -> None:
        """The remote's media address from its SDP (offer, answer, or a re-INVITE's).

        ``rtcp`` defaults to the RTP port + 1 (RFC 3550 §11); pass the ``a=rtcp`` value when
        the SDP has one (RFC 3605). Port 0 (stream refused, RFC 3264 §6) or an unspecified
        host (``c=0.0.0.0`` hold, RFC 3264 §8.4) stops sending to the remote. Raises
        ``InvalidMediaAddress`` for a host that is not an IP literal of a usable family.
        """
        self._announce_remote(rtp, rtcp)

    def set_transforms(self, rtp: PacketTransform | None, rtcp: PacketTransform | None) -> None:
        """What happens to packets received here before they leave from the peer (None: they
        pass untouched)."""
        self._rtp.transform = rtp
        self._rtcp.transform = rtcp

    def connect(self, peer: RelayEndpoint, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading; what arrives here leaves from ``peer``'s sockets."""
        self._rtp.peer = peer._rtp
        self._rtcp.peer = peer._rtcp
        self._add_readers(loop, self._rtp.on_readable, self._rtcp.on_readable)

    def close(self) -> None:
        """Stop reading and give the ports back; idempotent."""
        if self._ports.closed:
            return
        self._rtp.peer = self._rtcp.peer = None
        self._release()

    def _latched(self, kind: str) -> Callable[[SockAddr], None]:
        def log(source: SockAddr) -> None:
            logger.debug("%s %s latched to %s:%s", self.name, kind, source[0], source[1])

        return log
