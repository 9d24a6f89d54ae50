"""The RTP port range: even ports for RTP, the next odd port for RTCP.

RFC 3550 §11: "RTP SHOULD use an even destination port number and the corresponding RTCP stream
SHOULD use the next higher (odd) destination port number". The pool hands out such pairs from
the ``--rtp-ports LOW-HIGH`` range, binds both sockets (so a port some other program holds is
skipped, not fought over) and takes the pair back when its owner closes it. Allocation walks
the range round-robin rather than reusing the lowest free port, so late packets of a finished
call do not land in the next call that happens to get its ports.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from centralita.media.errors import NoMediaPorts

# RFC 4594 §4.2 (telephony service class): DSCP EF (46), shifted into the TOS / traffic class byte.
_DSCP_EF_TOS = 46 << 2

_PORT_TAKEN = frozenset({errno.EADDRINUSE, errno.EACCES})


def parse_port_range(text: str) -> tuple[int, int]:
    """``"LOW-HIGH"`` (the ``--rtp-ports`` value) as a pair of ints; ``ValueError`` if malformed."""
    low_text, sep, high_text = text.partition("-")
    if not sep:
        raise ValueError(f"RTP port range must be LOW-HIGH, got {text!r}")
    return int(low_text), int(high_text)


def socket_family(host: str) -> socket.AddressFamily:
    """The address family of an IP literal (``ValueError`` for anything else)."""
    version = ipaddress.ip_address(host).version
    return socket.AF_INET6 if version == 6 else socket.AF_INET


class PortPair:
    """A bound RTP socket on an even port and its RTCP socket on ``port + 1``.

    Both sockets are non-blocking. ``close()`` closes them and gives the ports back to the
    pool; it may be called more than once.
    """

    __slots__ = ("_pool", "host", "port", "rtcp", "rtp")

    def __init__(
        self, pool: RtpPortPool, host: str, port: int, rtp: socket.socket, rtcp: socket.socket
    ) -> None:
        self._pool: RtpPortPool | None = pool
        self.host = host
        self.port = port
        self.rtp = rtp
        self.rtcp = rtcp

    @property
    def rtcp_port(self) -> int:
        return self.port + 1

    @property
    def closed(self) -> bool:
        return self._pool is None

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        self.rtp.close()
        self.rtcp.close()
        pool._release(self.port)

    def __repr__(self) -> str:
        return f"PortPair({self.host!r}, {self.port}/{self.port + 1})"


class RtpPortPool:
    """Even/odd port pairs from ``[low, high]``, bound on ``host`` unless told otherwise.

    ``host`` is an IPv4 or IPv6 literal (``"0.0.0.0"``, ``"::"``, ``"127.0.0.1"``...). Port
    numbers are shared between families: a port held for an IPv4 leg is not handed out for
    an IPv6 one.
    """

    def __init__(self, low: int, high: int, *, host: str = "0.0.0.0") -> None:
        if not 0 < low <= high <= 65535:
            raise ValueError(f"bad RTP port range {low}-{high}")
        socket_family(host)  # validates the literal early
        first = low + (low % 2)
        self._candidates = range(first, high, 2)  # port + 1 <= high for every candidate
        if not self._candidates:
            raise ValueError(f"RTP port range {low}-{high} holds no even/odd pair")
        self.low, self.high, self.host = low, high, host
        self._in_use: set[int] = set()
        self._cursor = 0

    @property
    def capacity(self) -> int:
        """How many pairs the range holds (ports taken by other programs included)."""
        return len(self._candidates)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self, host: str | None = None) -> PortPair:
        """Bind the next free pair; raises ``NoMediaPorts`` when none can be bound."""
        bind_host = self.host if host is None else host
        family = socket_family(bind_host)
        count = len(self._candidates)
        for step in range(count):
            index = (self._cursor + step) % count
            port = self._candidates[index]
            if port in self._in_use:
                continue
            pair = self._try_bind(family, bind_host, port)
            if pair is not None:
                self._cursor = (index + 1) % count
                self._in_use.add(port)
                return pair
        raise NoMediaPorts(f"no free RTP port pair in {self.low}-{self.high} on {bind_host}")

    def _try_bind(self, family: socket.AddressFamily, host: str, port: int) -> PortPair | None:
        rtp = _bound_socket(family, host, port)
        if rtp is None:
            return None
        rtcp = _bound_socket(family, host, port + 1)
        if rtcp is None:
            rtp.close()
            return None
        return PortPair(self, host, port, rtp, rtcp)

    def _release(self, port: int) -> None:
        self._in_use.discard(port)


def _bound_socket(family: socket.AddressFamily, host: str, port: int) -> socket.socket | None:
    """A non-blocking UDP socket bound to (host, port), or None when someone else has the port."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        _mark_expedited(sock, family)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in _PORT_TAKEN:
            return None
        raise
    return sock


def _mark_expedited(sock: socket.socket, family: socket.AddressFamily) -> None:
    # Best effort: some sandboxes refuse to set the traffic class; media still flows.
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, _DSCP_EF_TOS)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, _DSCP_EF_TOS)
    except OSError:
        pass
