"""The RFC 3264 offer/answer model over ``centralita.sip.sdp`` descriptions, sans-I/O.

Two users, two tools. An endpoint that terminates media itself (IVR, voicemail) answers an
offer with ``answer()``: codec negotiation against ``CODECS`` (RFC 3264 §6.1), RFC 4733
telephone-event, directions (§6.1) and SRTP. The B2BUA, which relays media between two peers,
rewrites each peer's offer or answer with ``anchor()`` so media flow through our relay, and
keeps one ``LocalOrigin`` per dialog side: our o= line, whose session-version goes up exactly
when what we send changes (RFC 3264 §8).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from centralita.sip.sdp import (
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    PayloadType,
    SdpNotAcceptable,
    SessionDescription,
    Timing,
)

# --- codecs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    clock_rate: int
    static_payload_type: int | None = None
    channels: int = 1

    def matches(self, pt: PayloadType) -> bool:
        # RFC 8866 §6.6: encoding names are case-insensitive; rate and channels must agree.
        same_name = pt.encoding.lower() == self.name.lower()
        return same_name and pt.clock_rate == self.clock_rate and pt.channels == self.channels


# G722 is written 8000 Hz in SDP although it samples at 16 kHz (RFC 3551 §4.5.2).
CODECS: dict[str, Codec] = {
    "PCMU": Codec("PCMU", 8000, 0),
    "PCMA": Codec("PCMA", 8000, 8),
    "G722": Codec("G722", 8000, 9),
    "opus": Codec("opus", 48000, None, 2),  # RFC 7587 §7: always opus/48000/2 in SDP
    "telephone-event": Codec("telephone-event", 8000),  # RFC 4733, dynamic payload type
}
TELEPHONE_EVENTS = frozenset(range(17))  # RFC 4733 §3.2: DTMF 0-15 and flash (16)

_ICE = frozenset(
    {"candidate", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-mismatch",
     "remote-candidates", "end-of-candidates"}
)  # fmt: skip


# --- answering (RFC 3264 §6) -------------------------------------------------------------


def _ranges(numbers: set[int]) -> str:
    out, ordered = [], sorted(numbers)
    start = prev = ordered[0]
    for n in [*ordered[1:], -2]:
        if n != prev + 1:
            out.append(str(start) if start == prev else f"{start}-{prev}")
            start = n
        prev = n
    return ",".join(out)


def _events(fmtp: str | None) -> set[int]:
    """RFC 4733 §7.1.1 event list; absent means 0-15 (§2.4.1). Unparsable parts are skipped."""
    events: set[int] = set()
    for part in (fmtp or "0-15").replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (high or low).isdigit() and int(high or low) < 256:
            events.update(range(int(low), int(high or low) + 1))
    return events


@dataclass(frozen=True, slots=True)
class _AnswerPolicy:
    codecs: tuple[Codec, ...]
    direction: Direction
    ptime: int | None
    multiple_codecs: bool
    protocols: tuple[str, ...]
    srtp_crypto: Callable[[MediaDescription], str | None] | None
    rtcp_mux: bool


def _answer_codecs(offered: list[PayloadType], policy: _AnswerPolicy) -> list[PayloadType]:
    chosen: list[PayloadType] = []
    for codec in policy.codecs:
        # RFC 3264 §6.1: keep the offer's payload type numbers; list in our preference.
        chosen += [pt for pt in offered if codec.matches(pt)][:1]
    chosen = chosen if policy.multiple_codecs else chosen[:1]
    if not chosen:
        return []
    for pt in offered:
        if pt.is_telephone_event and pt.clock_rate == chosen[0].clock_rate:
            events = _events(pt.fmtp) & TELEPHONE_EVENTS
            if events:
                return [
                    *chosen,
                    PayloadType(pt.number, pt.encoding, pt.clock_rate, 1, _ranges(events)),
                ]
    return chosen


def _answer_media(
    offer: SessionDescription, media: MediaDescription, port: int, policy: _AnswerPolicy
) -> MediaDescription | None:
    if media.media != "audio" or media.port == 0 or media.proto not in policy.protocols:
        return None
    chosen = _answer_codecs(media.payload_types(), policy)
    if not chosen:
        return None
    crypto = None
    if "SAVP" in media.proto:
        crypto = policy.srtp_crypto(media) if policy.srtp_crypto else None
        if crypto is None:
            return None
    offered = offer.direction_for(media)
    conn = offer.connection_for(media)
    if conn is not None and conn.is_null:  # RFC 3264 §8.4: they cannot receive
        offered = Direction.of(sends=offered.sends, receives=False)
    attributes = [Attribute("rtpmap", pt.rtpmap()) for pt in chosen]
    attributes += [Attribute("fmtp", f"{pt.number} {pt.fmtp}") for pt in chosen if pt.fmtp]
    attributes += [Attribute("ptime", str(policy.ptime))] if policy.ptime else []
    attributes += [Attribute("crypto", crypto)] if crypto else []
    mux = policy.rtcp_mux and media.attribute("rtcp-mux") is not None
    attributes += [Attribute("rtcp-mux")] if mux else []
    sends = policy.direction.sends and offered.receives
    receives = policy.direction.receives and offered.sends
    attributes.append(Attribute(Direction.of(sends=sends, receives=receives).value))
    formats = [str(pt.number) for pt in chosen]
    return MediaDescription("audio", port, media.proto, formats, attributes=attributes)


def answer(
    offer: SessionDescription,
    supported: Sequence[str],
    *,
    address: str,
    port: int,
    origin: Origin,
    direction: Direction = Direction.SENDRECV,
    ptime: int | None = 20,
    multiple_codecs: bool = False,
    max_audio_streams: int = 1,
    protocols: Sequence[str] = ("RTP/AVP",),
    srtp_crypto: Callable[[MediaDescription], str | None] | None = None,
    rtcp_mux: bool = False,
) -> SessionDescription:
    """Answer ``offer`` as an endpoint receiving media at ``address``:``port`` (RFC 3264 §6).

    ``supported`` names codecs of ``CODECS`` in our preference; telephone-event is answered
    whenever offered at the chosen codec's clock rate. One codec is answered unless
    ``multiple_codecs``. The k-th accepted audio stream gets ``port + 2k``. An RTP/SAVP
    stream needs ``srtp_crypto(offered_media)`` to return our a=crypto value (None rejects).
    Every other m-line is kept in place with port 0. ``SdpNotAcceptable`` if none is accepted.
    """
    unknown = [name for name in supported if name not in CODECS]
    if unknown:
        raise ValueError(f"unknown codecs {unknown}")
    policy = _AnswerPolicy(
        codecs=tuple(CODECS[n] for n in supported if n != "telephone-event"),
        direction=direction,
        ptime=ptime,
        multiple_codecs=multiple_codecs,
        protocols=tuple(protocols),
        srtp_crypto=srtp_crypto,
        rtcp_mux=rtcp_mux,
    )
    result = SessionDescription(origin=copy.copy(origin), connection=Connection.for_host(address))
    # RFC 3264 §6: the t= of the answer equals the offer's.
    result.times = copy.deepcopy(offer.times) or [Timing()]
    accepted = 0
    for media in offer.media:
        answered = None
        if accepted < max_audio_streams:
            answered = _answer_media(offer, media, port + 2 * accepted, policy)
        if answered is None:
            # RFC 3264 §6: a rejected stream keeps its place with port 0.
            answered = MediaDescription(media.media, 0, media.proto, list(media.formats))
        else:
            accepted += 1
        result.media.append(answered)
    if not accepted:
        raise SdpNotAcceptable("no acceptable audio stream / no common codec in the offer")
    return result


# --- anchoring (the B2BUA's media relay) -------------------------------------------------


class LocalOrigin:
    """Our o= line in one dialog (RFC 3264 §5 and §8).

    ``stamp`` puts it on each description we send; the session-version goes up by one when
    the description differs from the previous one sent, and stays put when it does not.
    """

    def __init__(self, address: str, *, username: str = "-", session_id: str | None = None) -> None:
        self.origin = Origin.ours(address, username=username)
        if session_id is not None:
            self.origin.session_id = session_id
        self._last: list[str] | None = None

    def stamp(self, sd: SessionDescription) -> SessionDescription:
        out = copy.deepcopy(sd)
        body = out.lines()[2:]  # everything after v= and o=
        if self._last is not None and body != self._last:
            self.origin.version += 1
        self._last = body
        out.origin = copy.copy(self.origin)
        return out


def anchor(
    sd: SessionDescription,
    address: str,
    ports: Sequence[int],
    origin: LocalOrigin | Origin,
    *,
    rtcp_ports: Sequence[int | None] | None = None,
) -> SessionDescription:
    """Rewrite ``sd`` (a peer's offer or answer) so its media flow through our relay.

    ``ports[i]`` is our RTP port for m-line i (rejected streams stay at port 0). a=rtcp is
    rewritten to ``rtcp_ports[i]`` when given, else removed (RTCP then goes to port + 1,
    RFC 3605 §2); ICE lines are dropped since their candidates bypass us; a=crypto and
    codecs are kept. An RFC 2543 c=0.0.0.0 hold becomes a=sendonly / a=inactive (RFC 3264
    §8.4), since our own address replaces the null one.

    ``origin`` is best a ``LocalOrigin`` (one per dialog side): it stamps the result and raises
    the session-version only when the result changed. A plain ``Origin`` is used as given.
    """
    if len(ports) != len(sd.media) or (rtcp_ports is not None and len(rtcp_ports) != len(ports)):
        raise ValueError("one port per media description is needed")
    out = copy.deepcopy(sd)
    ours = Connection.for_host(address)
    for index, media in enumerate(out.media):
        conn = sd.connection_for(sd.media[index])
        if conn is not None and conn.is_null:
            held = sd.direction_for(sd.media[index])
            media.direction = Direction.of(sends=held.sends, receives=False)
        media.connections = []
        media.remove_attributes("rtcp", *_ICE)
        if media.port != 0:
            media.port = ports[index]
            rtcp = rtcp_ports[index] if rtcp_ports is not None else None
            if rtcp is not None:
                media.attributes.append(Attribute("rtcp", f"{rtcp} {ours}"))
    out.connection = ours
    out.remove_attributes(*_ICE)
    if isinstance(origin, Origin):
        out.origin = copy.copy(origin)  # the caller manages the session-version itself
        return out
    return origin.stamp(out)
