"""Symmetric RTP latching: learn where a peer really sends from, and send back there.

Theory of operation. A phone behind NAT announces a private address in its SDP, but its
packets reach us from the NAT's public address. Symmetric RTP (RFC 4961 §3) says a phone sends
from the port it receives on, so the relay answers to the source of the peer's packets
instead of the SDP address: "latching" (RFC 7362 §4). Latching opens a hijack: anyone who
guesses the port can send a packet and redirect the stream to themselves (RFC 7362 §4.2;
Asterisk's 2017 "RTP bleed"). So this latch:

- latches on the first valid packet, then sticks to that source;
- moves to another source only after the current one has been silent for ``relatch_after``
  seconds (a phone that roams or whose NAT binding changed pauses anyway, an attacker racing
  an active stream does not win), or at once when the packet comes from the address the
  signalling announced (the peer told us itself; spoofing that is no easier than spoofing
  the latched source);
- forgets the latched source when the signalling re-points the stream (re-INVITE with a new
  address), sending to the new SDP address until the new source shows up.

Sans-I/O: time is the ``now`` argument; the caller owns the sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# A socket address as recvfrom() returns it: (host, port) or (host, port, flowinfo, scope_id).
SockAddr = tuple[Any, ...]

RTP_VERSION = 2
# RFC 3550 §5.1: the fixed RTP header is 12 octets.
RTP_MIN_LENGTH = 12
# RFC 3550 §6.4: the shortest RTCP compound packet is an empty RR, header + SSRC = 8 octets.
RTCP_MIN_LENGTH = 8
# Larger than any RTP packet on a 1500-octet path with headroom for jumbo-ish frames; a
# datagram that fills the receive buffer was truncated and is not forwarded.
MAX_DATAGRAM = 4096

# Defaults: RTP flows every 20-30 ms, so 1.5 s of silence means the source has really gone.
# RTCP reports are about 5 s apart (RFC 3550 §6.2 minimum interval), so its latch waits two.
RELATCH_AFTER = 1.5
RTCP_RELATCH_AFTER = 10.0


def looks_like_rtp(first_octet: int, length: int, min_length: int) -> bool:
    """Version 2 (RFC 3550 §5.1, the top two bits) and a length that can hold the header."""
    return first_octet >> 6 == RTP_VERSION and min_length <= length < MAX_DATAGRAM


class Latch:
    """The remote address of one stream (RTP or RTCP) of one relay endpoint.

    ``destination`` is where packets for the peer go now (``None``: nowhere, e.g. the SDP
    said port 0 or ``c=0.0.0.0``); ``source`` is the latched source, if any.
    """

    __slots__ = (
        "announced",
        "destination",
        "last_admitted",
        "latches",
        "muted",
        "on_latched",
        "relatch_after",
        "source",
    )

    def __init__(
        self,
        relatch_after: float = RELATCH_AFTER,
        on_latched: Callable[[SockAddr], None] | None = None,
    ) -> None:
        self.relatch_after = relatch_after
        self.on_latched = on_latched
        self.announced: tuple[str, int] | None = None
        self.source: SockAddr | None = None
        self.destination: SockAddr | None = None
        self.muted = False
        self.last_admitted = float("-inf")
        self.latches = 0

    def announce(self, address: tuple[str, int] | None) -> None:
        """The signalling's address for this stream; ``None`` stops sending to the peer.

        Announcing the address already in force (a hold/resume re-INVITE that kept the
        peer's address) keeps the latch: the NAT mapping we learned still holds.
        """
        if address is not None and address == self.announced and not self.muted:
            return
        self.announced = address
        self.source = None
        self.muted = address is None
        self.destination = address

    def admit(self, source: SockAddr, now: float) -> bool:
        """Whether a valid packet from ``source`` at ``now`` belongs to this stream."""
        if source == self.source:
            self.last_admitted = now
            return True
        if not (self._is_announced(source) or now - self.last_admitted >= self.relatch_after):
            return False
        self.source = source
        if not self.muted:
            self.destination = source
        self.last_admitted = now
        self.latches += 1
        if self.on_latched is not None:
            self.on_latched(source)
        return True

    def _is_announced(self, source: SockAddr) -> bool:
        announced = self.announced
        return announced is not None and (source[0], source[1]) == announced
