"""What the relay does to a packet between two legs that did not agree on everything.

Theory of operation. The relay forwards packets untouched when both legs of a call share a
codec and neither uses SRTP (the fast path of :mod:`centralita.media.endpoint`). Otherwise the
call's :class:`MediaPlan` (made by the B2BUA from the two offer/answer exchanges, sans-I/O and
hashable so that an unchanged plan keeps its running state) says, per leg, the SDES keys of
that leg (RFC 4568) and, per direction, what to do with each payload type arriving:

* pass it with its payload type number rewritten (the legs agreed on that codec);
* transcode it (``Transcoder``): payload decoded and re-encoded, payload type rewritten,
  RTP timestamp carried over to the destination codec's clock. Sequence number, SSRC, marker
  bit, CSRCs and header extensions stay as the sender wrote them: the relay does not
  repacketise, so every incoming packet is one outgoing packet (RFC 3550 §7.1 lets a
  translator keep the SSRC when it only changes the encoding);
* map an RFC 4733 telephone-event to the other leg's event payload type, its timestamp and
  duration rescaled when the clocks differ (RFC 4733 §2.3.5: the duration is in timestamp
  units);
* anything else is dropped: the other leg never agreed to receive it (RFC 3264 §6.1).

Per direction, a :class:`DirectionTransform` runs: SRTP unprotect with the source leg's
context (RFC 3711 §3.3), the RTP rewrite, SRTP protect with the destination leg's context.
RTCP gets the SRTCP steps only (RFC 3711 §3.4): its reports are relayed, not regenerated,
which is exact while both codecs share a clock rate (all of PCMU, PCMA, G.722).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from centralita.media.codecs import CodecError, Transcoder, codec_for
from centralita.media.srtp import SrtpContext, SrtpError, SrtpParams

RTP_HEADER = 12
_PADDING = 0x20
_EXTENSION = 0x10

# Shown a clear RTP packet on its way through a direction (a recording's tap).
PacketTap = Callable[[bytes], None]


@dataclass(frozen=True, slots=True)
class PayloadRoute:
    """What happens to one incoming payload type: ``out_pt`` on the other leg, and the
    codecs as rtpmap values ("PCMU/8000", "opus/48000/2") when the payload is transcoded."""

    out_pt: int
    src_clock: int = 8000
    dst_clock: int = 8000
    transcode: tuple[str, str] | None = None
    event: bool = False  # RFC 4733 telephone-event


@dataclass(frozen=True, slots=True)
class DirectionPlan:
    """One direction of a call: incoming payload type -> route; unlisted types are dropped."""

    routes: tuple[tuple[int, PayloadRoute], ...]

    @classmethod
    def of(cls, routes: Mapping[int, PayloadRoute]) -> DirectionPlan:
        return cls(tuple(sorted(routes.items())))

    @property
    def is_identity(self) -> bool:
        """Every route passes the packet as it is: the fast path does the same."""
        return all(
            route.transcode is None and route.out_pt == pt and route.src_clock == route.dst_clock
            for pt, route in self.routes
        )


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """A call's media treatment: SRTP per leg (``a`` faces the caller), rewrite per direction
    (None: packets pass unchanged)."""

    srtp_a: SrtpParams | None = None
    srtp_b: SrtpParams | None = None
    a_to_b: DirectionPlan | None = None
    b_to_a: DirectionPlan | None = None

    @property
    def is_passthrough(self) -> bool:
        rewrites = [d for d in (self.a_to_b, self.b_to_a) if d is not None and not d.is_identity]
        return self.srtp_a is None and self.srtp_b is None and not rewrites


class _Route:
    """The running state of one route: its transcoder and the timestamp origin per SSRC."""

    __slots__ = (
        "event", "identity", "in_base", "out_base", "out_pt", "scale", "ssrc", "transcoder"
    )  # fmt: skip

    def __init__(self, route: PayloadRoute, in_pt: int) -> None:
        self.out_pt = route.out_pt
        self.identity = (
            route.transcode is None and route.out_pt == in_pt and route.src_clock == route.dst_clock
        )
        self.event = route.event
        self.scale = (route.dst_clock, route.src_clock)
        self.transcoder = _transcoder(route.transcode) if route.transcode else None
        self.ssrc = -1
        self.in_base = self.out_base = 0

    def follow(self, ssrc: int, timestamp: int) -> None:
        """A new SSRC is a new stream (RFC 3550 §8.2): new timestamp origin, fresh codecs."""
        if ssrc != self.ssrc:
            self.ssrc, self.in_base, self.out_base = ssrc, timestamp, timestamp
            if self.transcoder is not None:
                self.transcoder.src.reset()
                self.transcoder.dst.reset()

    def timestamp(self, timestamp: int) -> int:
        dst, src = self.scale
        if dst == src:
            return timestamp
        delta = (timestamp - self.in_base) & 0xFFFFFFFF
        if delta >= 0x80000000:  # a packet from before the origin (reordered)
            delta -= 0x100000000
        return (self.out_base + delta * dst // src) & 0xFFFFFFFF

    def payload(self, payload: bytes) -> bytes:
        if self.transcoder is not None:
            return self.transcoder.convert(payload)
        if self.event and self.scale[0] != self.scale[1] and len(payload) >= 4:
            duration = int.from_bytes(payload[2:4], "big") * self.scale[0] // self.scale[1]
            return payload[:2] + min(duration, 0xFFFF).to_bytes(2, "big") + payload[4:]
        return payload


def _transcoder(codecs: tuple[str, str]) -> Transcoder:
    src, dst = codec_for(codecs[0]), codec_for(codecs[1])
    if src is None or dst is None:
        raise ValueError(f"cannot transcode {codecs[0]} to {codecs[1]} here")
    return Transcoder(src, dst)


class RtpRewriter:
    """Applies a :class:`DirectionPlan` to RTP packets (RFC 3550 §5.1 header layout)."""

    __slots__ = ("plan", "routes")

    def __init__(self, plan: DirectionPlan) -> None:
        self.plan = plan
        self.routes = {pt: _Route(route, pt) for pt, route in plan.routes}

    def rewrite(self, packet: bytes) -> bytes | None:
        """The packet for the other leg, or None to drop it (unlisted payload type,
        malformed header, undecodable payload)."""
        length = len(packet)
        if length < RTP_HEADER:
            return None
        route = self.routes.get(packet[1] & 0x7F)
        if route is None:
            return None
        if route.identity:  # a codec both legs agreed on, among others that are not
            return packet
        first = packet[0]
        header = RTP_HEADER + 4 * (first & 0x0F)
        if first & _EXTENSION and length >= header + 4:  # RFC 3550 §5.3.1
            header += 4 + 4 * int.from_bytes(packet[header + 2 : header + 4], "big")
        end = length - (packet[-1] if first & _PADDING else 0)  # RFC 3550 §5.1 P bit
        if header > end:
            return None
        timestamp = int.from_bytes(packet[4:8], "big")
        route.follow(int.from_bytes(packet[8:12], "big"), timestamp)
        try:
            payload = route.payload(packet[header:end])
        except CodecError:
            return None
        out = bytearray(packet[:header])
        out[0] = first & ~_PADDING  # the padding went with the old payload
        out[1] = (packet[1] & 0x80) | route.out_pt  # marker bit kept
        out[4:8] = route.timestamp(timestamp).to_bytes(4, "big")
        out += payload
        return bytes(out)


@dataclass(slots=True)
class DirectionTransform:
    """One direction of a call between the receiving socket and the sending one."""

    unprotect: SrtpContext | None = None
    rewriter: RtpRewriter | None = None
    protect: SrtpContext | None = None
    dropped_srtp: int = 0  # failed SRTP/SRTCP authentication or replay check (RFC 3711 §3.3)
    dropped_payload: int = 0  # a payload type the other leg did not agree to, or undecodable

    def rtp(self, packet: bytes, tap: PacketTap | None = None) -> bytes | None:
        """The packet for the other leg, or None to drop it (counted here). ``tap``, when
        given, sees each packet in the clear: after SRTP unprotect, before any rewrite."""
        if self.unprotect is not None:
            try:
                packet = self.unprotect.unprotect(packet)
            except SrtpError:
                self.dropped_srtp += 1
                return None
        if tap is not None:
            tap(packet)
        if self.rewriter is not None:
            rewritten = self.rewriter.rewrite(packet)
            if rewritten is None:
                self.dropped_payload += 1
                return None
            packet = rewritten
        if self.protect is not None:
            try:
                packet = self.protect.protect(packet)
            except SrtpError:
                self.dropped_srtp += 1
                return None
        return packet

    def rtcp(self, packet: bytes) -> bytes | None:
        try:
            if self.unprotect is not None:
                packet = self.unprotect.unprotect_rtcp(packet)
            if self.protect is not None:
                packet = self.protect.protect_rtcp(packet)
        except SrtpError:
            self.dropped_srtp += 1
            return None
        return packet

    @property
    def has_srtp(self) -> bool:
        return self.unprotect is not None or self.protect is not None


class PlanRuntime:
    """The running transforms of one call; :meth:`update` keeps every piece whose part of
    the plan did not change (SRTP replay state, codec state, timestamp origins)."""

    def __init__(self) -> None:
        self.plan = MediaPlan()
        self._contexts: dict[str, tuple[SrtpParams, SrtpContext]] = {}
        self._rewriters: dict[str, RtpRewriter] = {}
        self.a_to_b: DirectionTransform | None = None
        self.b_to_a: DirectionTransform | None = None

    def update(self, plan: MediaPlan) -> None:
        self.plan = plan
        context_a = self._context("a", plan.srtp_a)
        context_b = self._context("b", plan.srtp_b)
        self.a_to_b = self._direction("a_to_b", plan.a_to_b, context_a, context_b)
        self.b_to_a = self._direction("b_to_a", plan.b_to_a, context_b, context_a)

    def _context(self, leg: str, params: SrtpParams | None) -> SrtpContext | None:
        if params is None:
            self._contexts.pop(leg, None)
            return None
        current = self._contexts.get(leg)
        if current is None or current[0] != params:
            current = (params, SrtpContext(params))
            self._contexts[leg] = current
        return current[1]

    def _direction(
        self,
        name: str,
        plan: DirectionPlan | None,
        source: SrtpContext | None,
        destination: SrtpContext | None,
    ) -> DirectionTransform | None:
        rewriter = None
        if plan is not None and not plan.is_identity:
            rewriter = self._rewriters.get(name)
            if rewriter is None or rewriter.plan != plan:
                rewriter = RtpRewriter(plan)
        if rewriter is None:
            self._rewriters.pop(name, None)
        else:
            self._rewriters[name] = rewriter
        if rewriter is None and source is None and destination is None:
            return None
        current: DirectionTransform | None = getattr(self, name)
        parts = (source, rewriter, destination)
        if current is not None and (current.unprotect, current.rewriter, current.protect) == parts:
            return current  # unchanged: keep its counters
        return DirectionTransform(source, rewriter, destination)
