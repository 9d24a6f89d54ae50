"""The socket plumbing both kinds of media endpoint share.

A :class:`SocketPairEndpoint` is our side of one RTP stream: a bound ``PortPair`` (RTP, and
RTCP one port up, RFC 3550 §11), one symmetric-RTP latch per socket (``latching.Latch``:
where packets are admitted from and where ours go) and the event-loop readers on the two
sockets. The relay's ``RelayEndpoint`` and the terminating ``MediaEndpoint`` build on it; what
they do with a packet stays theirs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

from centralita.media.errors import InvalidMediaAddress
from centralita.media.latching import MAX_DATAGRAM, Latch, SockAddr
from centralita.media.ports import PortPair


class SocketPairEndpoint:
    """A ``PortPair`` with its two latches and, once attached, the readers on its sockets."""

    def __init__(self, ports: PortPair, rtp_latch: Latch, rtcp_latch: Latch, name: str) -> None:
        self.name = name or f"{ports.host}:{ports.port}"
        self._ports = ports
        self._rtp_latch = rtp_latch
        self._rtcp_latch = rtcp_latch
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def local_host(self) -> str:
        return self._ports.host

    @property
    def local_port(self) -> int:
        return self._ports.port

    @property
    def local_rtcp_port(self) -> int:
        return self._ports.rtcp_port

    @property
    def remote_rtp(self) -> SockAddr | None:
        """Where RTP to the remote goes now: the latched source, else the SDP address."""
        return self._rtp_latch.destination

    @property
    def remote_rtcp(self) -> SockAddr | None:
        return self._rtcp_latch.destination

    @property
    def latched_rtp(self) -> SockAddr | None:
        return self._rtp_latch.source

    @property
    def closed(self) -> bool:
        return self._ports.closed

    def _announce_remote(self, rtp: tuple[str, int], rtcp: tuple[str, int] | None = None) -> None:
        """The remote's media address from its SDP; ``rtcp`` defaults to the RTP port + 1
        (RFC 3550 §11), else it is the ``a=rtcp`` value (RFC 3605)."""
        family = self._ports.rtp.family
        rtp_address = sendable_address(rtp, family)
        if rtcp is not None:
            rtcp_address = sendable_address(rtcp, family)
        elif rtp_address is not None:
            rtcp_address = (rtp_address[0], rtp_address[1] + 1)
        else:
            rtcp_address = None
        self._rtp_latch.announce(rtp_address)
        self._rtcp_latch.announce(rtcp_address)

    def _add_readers(
        self,
        loop: asyncio.AbstractEventLoop,
        on_rtp: Callable[[], None],
        on_rtcp: Callable[[], None],
    ) -> None:
        self._loop = loop
        loop.add_reader(self._ports.rtp, on_rtp)
        loop.add_reader(self._ports.rtcp, on_rtcp)

    def _release(self) -> None:
        """Stop reading and give the ports back."""
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._ports.rtp)
            loop.remove_reader(self._ports.rtcp)
        self._ports.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, remote={self.remote_rtp})"


def sendable_address(
    address: tuple[str, int], family: socket.AddressFamily
) -> tuple[str, int] | None:
    """An SDP address written as the socket's ``sendto``/``recvfrom`` write it, so the latch
    can compare sources with it; None for port 0 (stream refused, RFC 3264 §6) or an
    unspecified host (``c=0.0.0.0`` hold, RFC 3264 §8.4). Raises ``InvalidMediaAddress`` for a
    host that is not an IP literal of a usable family, or a port out of range."""
    host, port = address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidMediaAddress(f"media address {host!r} is not an IP literal") from None
    if not 0 <= port <= 65535:
        raise InvalidMediaAddress(f"media port {port} out of range")
    if port == 0 or ip.is_unspecified:
        return None
    if family == socket.AF_INET6:
        return (f"::ffff:{ip}" if ip.version == 4 else str(ip), port)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip
    if mapped is None:
        raise InvalidMediaAddress(f"IPv6 media address {ip} on an IPv4 media socket")
    return (str(mapped), port)


def receive_datagram(sock: socket.socket) -> tuple[bytes, SockAddr] | None:
    """One datagram from a readable non-blocking socket; None when there was none."""
    try:
        data, source = sock.recvfrom(MAX_DATAGRAM)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return None  # e.g. ICMP port unreachable reported on the socket
    return data, source


def send_datagram(sock: socket.socket, data: bytes, destination: SockAddr) -> bool:
    """Send ``data``; False when the socket refused it (counted by the caller, never raised)."""
    try:
        sock.sendto(data, destination)
    except OSError:
        return False
    return True
