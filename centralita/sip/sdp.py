"""SDP (RFC 8866, formerly RFC 4566): the model, its parser and its serialiser, sans-I/O.

``SessionDescription.parse(bytes)`` keeps every line; ``bytes(sd)`` writes them back in the
RFC 8866 §5 order with the line ending the input used. An SDP whose lines are in that order
and consistently terminated (what phones send) round-trips byte-exactly; anything else (lines
out of order, mixed or missing line endings, runs of spaces inside o=/c=/m=) round-trips
semantically: same fields and attributes, canonical layout.

The RFC 3264 offer/answer model (``answer``, codec negotiation, the B2BUA's ``anchor`` and
``LocalOrigin``) lives in ``centralita.sip.offer_answer``.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from centralita.sip.errors import NotAcceptableHere, SipError


class SdpError(SipError):
    """The body is not valid SDP (400); see ``SdpNotAcceptable`` for 488."""

    status_code = 400
    reason = "Bad Request"


class SdpNotAcceptable(SdpError, NotAcceptableHere):
    """Valid SDP we cannot accept: no common codec, unsupported network type (RFC 3261 §21.4.26)."""

    status_code = 488
    reason = "Not Acceptable Here"


class Direction(StrEnum):
    """Media direction attributes (RFC 8866 §6.7), from the point of view of their writer."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, *, sends: bool, receives: bool) -> Direction:
        table = {(True, True): cls.SENDRECV, (True, False): cls.SENDONLY}
        table |= {(False, True): cls.RECVONLY, (False, False): cls.INACTIVE}
        return table[(sends, receives)]

    def mirrored(self) -> Direction:
        """What the answerer writes to accept this direction as is (RFC 3264 §6.1)."""
        return Direction.of(sends=self.receives, receives=self.sends)


# --- payload types -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayloadType:
    """One RTP payload format of a media section: a=rtpmap (or the static table) + a=fmtp."""

    number: int
    encoding: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    @property
    def is_telephone_event(self) -> bool:
        return self.encoding.lower() == "telephone-event"

    def rtpmap(self) -> str:
        channels = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.number} {self.encoding}/{self.clock_rate}{channels}"


# RFC 3551 §6 table 4: static audio payload types usable without a=rtpmap.
_STATIC: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1), 5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1), 7: ("LPC", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1),
    10: ("L16", 44100, 2), 11: ("L16", 44100, 1), 12: ("QCELP", 8000, 1), 13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1), 15: ("G728", 8000, 1), 16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1), 18: ("G729", 8000, 1),
}  # fmt: skip


# --- lines -------------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"
_ATTRIBUTE = re.compile(rf"({_TOKEN})(?::(.*))?", re.DOTALL)
_RTPMAP = re.compile(r"(\d{1,3}) ([^/\s]+)/(\d+)(?:/(\d+))?")
_MEDIA = re.compile(rf"({_TOKEN}) (\d+)(?:/(\d+))? ({_TOKEN}(?:/{_TOKEN})*)((?: \S+)+)")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?")
_RTP_PROTOS = re.compile(r"(UDP/TLS/)?RTP/S?AVPF?")


def _int(text: str, what: str, limit: int = 2**63 - 1) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > limit:
        raise SdpError(f"bad {what} {text[:30]!r}")
    return int(text)


@dataclass(slots=True)
class Origin:
    """o= (RFC 8866 §5.2). ``session_id`` stays text: it is an identifier, not a number."""

    username: str
    session_id: str
    version: int
    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise SdpError(f"o= needs 6 fields: {value[:60]!r}")
        _int(parts[1], "o= sess-id")
        version = _int(parts[2], "o= sess-version")
        return cls(parts[0], parts[1], version, parts[5], parts[4], parts[3])

    @classmethod
    def ours(cls, address: str, *, username: str = "-") -> Origin:
        """A fresh origin for ``address``: random session id, version 1. RFC 3264 §5:
        numeric, fits a signed 64-bit integer; initial version below 2**62 - 1."""
        ident = str(secrets.randbelow(2**62 - 2) + 1)
        conn = Connection.for_host(address)
        return cls(username, ident, 1, conn.address, conn.addrtype)

    def next_version(self) -> Origin:
        """The same origin with the session-version one higher (RFC 3264 §8)."""
        return Origin(self.username, self.session_id, self.version + 1, self.address,
                      self.addrtype, self.nettype)  # fmt: skip

    def __str__(self) -> str:
        fields = (self.session_id, self.version, self.nettype, self.addrtype, self.address)
        return " ".join(str(x) for x in (self.username, *fields))


@dataclass(slots=True)
class Connection:
    """c= (RFC 8866 §5.7). ``address`` keeps any /ttl or /count suffix."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    @classmethod
    def for_host(cls, host: str) -> Connection:
        return cls(host, "IP6" if ":" in host else "IP4")

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise SdpError(f"c= needs 3 fields: {value[:60]!r}")
        nettype, addrtype, address = parts
        if nettype != "IN" or addrtype not in ("IP4", "IP6"):
            raise SdpNotAcceptable(f"unsupported network/address type {nettype} {addrtype}")
        _check_host(address.split("/")[0], addrtype)
        return cls(address, addrtype, nettype)

    @property
    def host(self) -> str:
        return self.address.split("/")[0]

    @property
    def is_null(self) -> bool:
        """The RFC 2543 hold address (RFC 3264 §8.4), or its IPv6 counterpart."""
        return self.host in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


def _check_host(host: str, addrtype: str) -> None:
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        # RFC 8866 §9: a fully qualified domain name is allowed too.
        if not _HOSTNAME.fullmatch(host) or host.replace(".", "").isdigit():
            raise SdpError(f"bad connection address {host[:60]!r}") from None
        return
    if parsed.version != (4 if addrtype == "IP4" else 6):
        raise SdpError(f"{host} is not an {addrtype} address")


@dataclass(slots=True)
class Attribute:
    """a=name or a=name:value (RFC 8866 §5.13). ``value`` None means a property attribute."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(slots=True)
class Timing:
    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


_DIRECTIONS = frozenset(d.value for d in Direction)


class _HasAttributes:
    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """Value of the first a=``name`` ("" for a property attribute), or None if absent."""
        for attr in self.attributes:
            if attr.name == name:
                return attr.value if attr.value is not None else ""
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [a.value or "" for a in self.attributes if a.name == name]

    def remove_attributes(self, *names: str) -> None:
        self.attributes = [a for a in self.attributes if a.name not in names]

    @property
    def direction(self) -> Direction | None:
        """The direction attribute written at this level, if any."""
        for attr in self.attributes:
            if attr.value is None and attr.name in _DIRECTIONS:
                return Direction(attr.name)
        return None

    @direction.setter
    def direction(self, value: Direction | None) -> None:
        self.remove_attributes(*_DIRECTIONS)
        if value is not None:
            self.attributes.append(Attribute(value.value))


@dataclass(slots=True)
class MediaDescription(_HasAttributes):
    """One m= section (RFC 8866 §5.14) with its i=, c=, b=, k= and a= lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[str] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @property
    def is_rtp(self) -> bool:
        return _RTP_PROTOS.fullmatch(self.proto) is not None

    def payload_types(self) -> list[PayloadType]:
        """Formats in offer order, resolved through a=rtpmap or the RFC 3551 static table;
        dynamic types without an rtpmap are left out (RFC 8866 §6.6)."""
        if not self.is_rtp:
            return []
        maps = {int(m[1]): m for m in map(_RTPMAP.fullmatch, self.attribute_values("rtpmap")) if m}
        fmtps: dict[str, str] = {}
        for value in self.attribute_values("fmtp"):
            fmt, _, params = value.partition(" ")
            fmtps.setdefault(fmt, params)
        result = []
        for fmt in self.formats:
            number = int(fmt)
            if number in maps:
                m = maps[number]
                enc, rate, ch = m[2], int(m[3]), int(m[4] or 1)
            elif number in _STATIC:
                enc, rate, ch = _STATIC[number]
            else:
                continue
            result.append(PayloadType(number, enc, rate, ch, fmtps.get(fmt)))
        return result

    def lines(self) -> list[str]:
        count = f"/{self.port_count}" if self.port_count is not None else ""
        out = [f"m={self.media} {self.port}{count} {self.proto} {' '.join(self.formats)}"]
        out += [f"i={self.title}"] if self.title is not None else []
        out += [f"c={c}" for c in self.connections] + [f"b={b}" for b in self.bandwidths]
        out += [f"k={self.key}"] if self.key is not None else []
        return out + [f"a={a}" for a in self.attributes]


@dataclass(frozen=True, slots=True)
class MediaStream:
    """What a peer's description says about one m= section, resolved for media code."""

    index: int
    media: str
    proto: str
    address: str
    port: int
    rtcp_host: str
    rtcp_port: int
    rtcp_mux: bool
    payload_types: tuple[PayloadType, ...]
    direction: Direction
    is_hold: bool
    ptime: int | None
    crypto: tuple[str, ...]

    @property
    def rtp_address(self) -> tuple[str, int]:
        return self.address, self.port

    @property
    def rtcp_address(self) -> tuple[str, int]:
        """Where the peer takes RTCP: a=rtcp (RFC 3605), else RTP port + 1. a=rtcp-mux is
        only an offer until the answer agrees, so it is reported apart (``rtcp_mux``)."""
        return self.rtcp_host, self.rtcp_port

    @property
    def is_hold_address(self) -> bool:
        """c=0.0.0.0 (RFC 2543 hold, RFC 3264 §8.4): there is nowhere to send media."""
        return self.address in ("0.0.0.0", "::")

    @property
    def codecs(self) -> tuple[PayloadType, ...]:
        return tuple(pt for pt in self.payload_types if not pt.is_telephone_event)

    @property
    def telephone_event(self) -> PayloadType | None:
        return next((pt for pt in self.payload_types if pt.is_telephone_event), None)


# --- the session -------------------------------------------------------------------------

_NO_ORIGIN = Origin("-", "0", 0, "0.0.0.0")
_SESSION_ONCE = "vosiuczk"
_MEDIA_TYPES = "icbka"


@dataclass(slots=True)
class SessionDescription(_HasAttributes):
    """A whole SDP body (RFC 8866 §5)."""

    origin: Origin
    session_name: str = "-"
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    times: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    eol: str = field(default="\r\n", compare=False)

    @classmethod
    def parse(cls, data: bytes) -> SessionDescription:
        """Parse an SDP body; ``SdpError`` (400) or ``SdpNotAcceptable`` (488) otherwise."""
        lines, eol = _split_lines(data)
        if not lines or lines[0] != "v=0":
            raise SdpError("SDP must start with v=0")
        sd = cls(origin=_NO_ORIGIN, session_name="", times=[], eol=eol)
        seen: set[str] = set()
        for line in lines[1:]:
            kind, value = line[0], line[2:]
            if kind == "m":
                sd.media.append(_parse_media(value))
            elif sd.media:
                _add_media_line(sd.media[-1], kind, value)
            else:
                if kind in _SESSION_ONCE and kind in seen:
                    raise SdpError(f"more than one session-level {kind}= line")
                seen.add(kind)
                _add_session_line(sd, kind, value)
        _validate(sd, seen)
        return sd

    def lines(self) -> list[str]:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        out += [f"i={self.info}"] if self.info is not None else []
        out += [f"u={self.uri}"] if self.uri is not None else []
        out += [f"e={e}" for e in self.emails] + [f"p={p}" for p in self.phones]
        out += [f"c={self.connection}"] if self.connection is not None else []
        out += [f"b={b}" for b in self.bandwidths]
        for t in self.times:
            out += [f"t={t.start} {t.stop}"] + [f"r={r}" for r in t.repeats]
        out += [f"z={self.zone}"] if self.zone is not None else []
        out += [f"k={self.key}"] if self.key is not None else []
        out += [f"a={a}" for a in self.attributes]
        for media in self.media:
            out += media.lines()
        return out

    def __bytes__(self) -> bytes:
        return "".join(line + self.eol for line in self.lines()).encode("utf-8")

    # -- accessors --

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """Media-level c= wins over the session-level one (RFC 8866 §5.7)."""
        return media.connections[0] if media.connections else self.connection

    def direction_for(self, media: MediaDescription) -> Direction:
        """Media-level, else session-level, else sendrecv (RFC 3264 §5.1)."""
        return media.direction or self.direction or Direction.SENDRECV

    def streams(self) -> list[MediaStream]:
        return [self._stream(i, m) for i, m in enumerate(self.media)]

    def first_audio(self) -> MediaStream | None:
        """The first m=audio section, rejected (port 0) or not."""
        return next((s for s in self.streams() if s.media == "audio"), None)

    def audio_streams(self) -> list[MediaStream]:
        """The accepted (port ≠ 0) RTP audio streams."""
        return [s for s in self.streams() if s.media == "audio" and s.port != 0]

    def _stream(self, index: int, media: MediaDescription) -> MediaStream:
        conn = self.connection_for(media)
        host = conn.host if conn is not None else ""
        direction = self.direction_for(media)
        rtcp_addr, rtcp_port = _rtcp(media, host)
        ptime = media.attribute("ptime")
        return MediaStream(
            index=index,
            media=media.media,
            proto=media.proto,
            address=host,
            port=media.port,
            rtcp_host=rtcp_addr,
            rtcp_port=rtcp_port,
            rtcp_mux=media.attribute("rtcp-mux") is not None,
            payload_types=tuple(media.payload_types()) if media.is_rtp else (),
            direction=direction,
            # RFC 3264 §8.4: hold is a=sendonly/inactive, or the RFC 2543 c=0.0.0.0.
            is_hold=not direction.receives or (conn is not None and conn.is_null),
            ptime=int(ptime) if ptime and ptime.isdigit() else None,
            crypto=tuple(media.attribute_values("crypto")),
        )


def _rtcp(media: MediaDescription, host: str) -> tuple[str, int]:
    value = media.attribute("rtcp")  # RFC 3605: a=rtcp:port [nettype addrtype address]
    if value is None:
        return host, media.port + 1 if media.port else 0
    parts = value.split()
    return (parts[3] if len(parts) == 4 else host), int(parts[0])


def _split_lines(data: bytes) -> tuple[list[str], str]:
    try:
        text = data.decode("utf-8")  # RFC 8866 §5: UTF-8 unless a=charset says otherwise
    except UnicodeDecodeError as exc:
        raise SdpError(f"SDP is not UTF-8 text: {exc.reason}") from None
    raw = text.split("\n")
    while raw and raw[-1].strip("\r") == "":
        raw.pop()
    bare_lf = not any(line.endswith("\r") for line in raw)
    lines = [line.removesuffix("\r") for line in raw]
    for line in lines:
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError(f"bad SDP line {line[:40]!r}")
        if "\r" in line or "\x00" in line:
            raise SdpError(f"control character in SDP line {line[:40]!r}")
    return lines, "\n" if bare_lf and raw else "\r\n"  # RFC 8866 §5: CRLF, LF tolerated


def _add_session_line(sd: SessionDescription, kind: str, value: str) -> None:
    setters: dict[str, Callable[[], None]] = {
        "o": lambda: setattr(sd, "origin", Origin.parse(value)),
        "s": lambda: setattr(sd, "session_name", value),
        "i": lambda: setattr(sd, "info", value),
        "u": lambda: setattr(sd, "uri", value),
        "e": lambda: sd.emails.append(value),
        "p": lambda: sd.phones.append(value),
        "c": lambda: setattr(sd, "connection", Connection.parse(value)),
        "b": lambda: sd.bandwidths.append(_bandwidth(value)),
        "t": lambda: sd.times.append(_timing(value)),
        "z": lambda: setattr(sd, "zone", value),
        "k": lambda: setattr(sd, "key", value),
        "a": lambda: sd.attributes.append(_attribute(value)),
    }
    if kind == "r" and sd.times:
        sd.times[-1].repeats.append(value)
    elif kind in setters:
        setters[kind]()
    else:  # RFC 8866 §5: unknown type letters make the whole description unusable
        raise SdpError(f"unexpected session-level line {kind}=")


def _add_media_line(media: MediaDescription, kind: str, value: str) -> None:
    if kind not in _MEDIA_TYPES:
        raise SdpError(f"{kind}= is not allowed in a media description")
    if kind == "a":
        attr = _attribute(value)
        if attr.name == "rtpmap" and not _RTPMAP.fullmatch(attr.value or ""):
            raise SdpError(f"bad a=rtpmap:{(attr.value or '')[:40]}")
        if attr.name == "rtcp":
            _check_rtcp(attr.value or "")
        media.attributes.append(attr)
    elif kind == "c":
        media.connections.append(Connection.parse(value))
    elif kind == "b":
        media.bandwidths.append(_bandwidth(value))
    elif kind == "i" and media.title is None:
        media.title = value
    elif kind == "k" and media.key is None:
        media.key = value
    else:
        raise SdpError(f"more than one {kind}= line in a media description")


def _check_rtcp(value: str) -> None:
    parts = value.split()
    if len(parts) not in (1, 4):
        raise SdpError(f"bad a=rtcp:{value[:40]}")
    _int(parts[0], "a=rtcp port", 65535)
    if len(parts) == 4:
        Connection.parse(" ".join(parts[1:]))


def _parse_media(value: str) -> MediaDescription:
    m = _MEDIA.fullmatch(value)
    if m is None:
        raise SdpError(f"bad m= line {value[:60]!r}")
    media = MediaDescription(
        media=m[1],
        port=_int(m[2], "m= port", 65535),
        port_count=_int(m[3], "m= port count") if m[3] else None,
        proto=m[4],
        formats=m[5].split(),
    )
    if media.is_rtp:
        for fmt in media.formats:
            _int(fmt, "RTP payload type", 127)  # RFC 3551 §3: 7-bit payload types
    return media


def _attribute(value: str) -> Attribute:
    m = _ATTRIBUTE.fullmatch(value)
    if m is None:
        raise SdpError(f"bad attribute a={value[:40]}")
    return Attribute(m[1], m[2])


def _bandwidth(value: str) -> str:
    bwtype, sep, amount = value.partition(":")
    if not sep or not re.fullmatch(_TOKEN, bwtype):
        raise SdpError(f"bad b={value[:40]}")
    _int(amount, "bandwidth")
    return value


def _timing(value: str) -> Timing:
    parts = value.split()
    if len(parts) != 2:
        raise SdpError(f"bad t={value[:40]}")
    return Timing(_int(parts[0], "start time"), _int(parts[1], "stop time"))


def _validate(sd: SessionDescription, seen: set[str]) -> None:
    for kind in "os":
        if kind not in seen:
            raise SdpError(f"SDP lacks the mandatory {kind}= line")
    for index, media in enumerate(sd.media):
        # RFC 8866 §5.7: every media needs a c=, its own or the session's.
        if media.port != 0 and sd.connection_for(media) is None:
            raise SdpError(f"media description #{index} has no connection address")
