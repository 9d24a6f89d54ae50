"""SIP messages: parsing from bytes, serialising to bytes, responses (RFC 3261 §7, §8.2).

Sans-I/O. :func:`parse_message` takes one datagram (or one framed stream message) and gives
a :class:`Request` or :class:`Response`; whatever the input it raises nothing but
:class:`SipParseError`. Parsing is lazy where it pays: the start line, header names and the
Content-Length framing are handled at once; structured values (Via, From, To, Contact, CSeq,
...) are parsed only when their property is read.

Serialisation keeps the received octets: ``bytes(msg)`` of an unmodified parsed message is
exactly what arrived (without trailing octets beyond Content-Length, RFC 3261 §18.3); once
changed, untouched header lines keep their original octets, changed ones are written as
``Name: value`` and Content-Length always matches the body.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field

from centralita.sip.errors import (
    BadExtension,
    SipParseError,
    TooManyHops,
    UnsupportedUriScheme,
    VersionNotSupported,
)
from centralita.sip.headers import CSeq, HeaderLine, Headers, NameAddr, Via
from centralita.sip.uri import Uri, is_token

__all__ = [
    "CSeq",
    "Headers",
    "Message",
    "MessageTooLargeError",
    "NameAddr",
    "Request",
    "Response",
    "Uri",
    "Via",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "validate_request",
]

SIP_VERSION = "SIP/2.0"
BRANCH_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7 magic cookie
MAX_MESSAGE_SIZE = 65535  # largest UDP payload; streams frame before calling us
MAX_HEADER_LINES = 256
MAX_LINE_LENGTH = 8192
MAX_FORWARDS_LIMIT = 255

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 580: "Precondition Failure", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip


class MessageTooLargeError(SipParseError):
    """Over the size limits; still a parse error, but its response is 513 (RFC 3261 §21.5.11)."""

    status_code = 513
    reason = "Message Too Large"


class _Fields(ABC):
    """What requests and responses share: serialisation, and typed access to the headers
    every layer needs (each raises SipParseError if bad)."""

    headers: Headers
    body: bytes
    _wire: _Wire | None

    def __bytes__(self) -> bytes:
        # A parsed message that was not changed goes out as it came in, byte for byte; one
        # whose headers or body changed keeps its start line as received when that is unchanged.
        wire = self._wire
        if wire is not None and self._same_start(wire):
            if not self.headers.modified and self.body is wire.body:
                return wire.raw
            return _serialise(wire.start, self)
        return _serialise(self._start_line(), self)

    @abstractmethod
    def _start_line(self) -> str: ...

    @abstractmethod
    def _same_start(self, wire: _Wire) -> bool: ...

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if not value:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self._required("CSeq"))

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(value) for value in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.get_all("Via")
        if not values:
            raise SipParseError("missing Via header")
        return Via.parse(values[0])

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self._required("From"))

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self._required("To"))

    @property
    def contact_star(self) -> bool:
        return self.headers.get_all("Contact") == ["*"]

    @property
    def contacts(self) -> list[NameAddr]:
        values = self.headers.get_all("Contact")
        if values == ["*"]:
            return []
        if "*" in values:
            raise SipParseError("Contact: * mixed with other contacts")  # §10.2.2
        return [NameAddr.parse(value) for value in values]

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        number = _digits(value, "Max-Forwards")
        if number > MAX_FORWARDS_LIMIT:
            raise SipParseError("Max-Forwards larger than 255")  # §20.22: 0-255
        return number

    @property
    def expires(self) -> int | None:
        value = self.headers.get("Expires")
        if value is None:
            return None
        # §20.19: delta-seconds up to 2**32-1; larger values are taken as that maximum.
        return min(_digits(value, "Expires"), 0xFFFFFFFF)

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        if not value:
            return None
        media = value.split(";", 1)[0].strip().lower()
        kind, slash, sub = media.partition("/")
        if not slash or not is_token(kind) or not is_token(sub.strip()):
            raise SipParseError(f"bad Content-Type {value[:80]!r}")
        return f"{kind}/{sub.strip()}"


def _digits(value: str, name: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise SipParseError(f"bad {name} value {value[:40]!r}")
    return int(value)


@dataclass(eq=True)
class Request(_Fields):
    method: str
    uri: Uri
    headers: Headers
    body: bytes = b""
    version: str = SIP_VERSION
    # What arrived, for the byte-exact round trip; None for messages built in code.
    _wire: _Wire | None = field(default=None, init=False, repr=False, compare=False)
    declared_length: int | None = field(default=None, init=False, repr=False, compare=False)

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def _same_start(self, wire: _Wire) -> bool:
        return (
            self.method == wire.first
            and self.version == wire.third
            and _same_uri(self.uri, wire.second)
        )


@dataclass(eq=True)
class Response(_Fields):
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = SIP_VERSION
    _wire: _Wire | None = field(default=None, init=False, repr=False, compare=False)
    declared_length: int | None = field(default=None, init=False, repr=False, compare=False)

    def _start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def _same_start(self, wire: _Wire) -> bool:
        return (
            self.version == wire.first
            and str(self.status) == wire.second
            and self.reason == wire.third
        )


Message = Request | Response


@dataclass(frozen=True, slots=True)
class _Wire:
    raw: bytes  # the whole message as received, up to the end of its body
    start: str  # the start line as received
    first: str  # method / version
    second: str  # Request-URI text / status code
    third: str  # version / reason phrase
    body: bytes


def _same_uri(uri: Uri, text: str) -> bool:
    try:
        return Uri.parse(text) == uri
    except SipParseError:
        return False


def _serialise(start: str, msg: _Fields) -> bytes:
    body_length = len(msg.body)
    out = [start.encode("utf-8", "surrogateescape")]
    wrote_length = False
    for name, value, raw in msg.headers.raw_lines():
        if name == "Content-Length":
            if wrote_length:
                continue
            wrote_length = True
            if value.strip() != str(body_length):
                raw, value = None, str(body_length)
        out.append(
            raw if raw is not None else f"{name}: {value}".encode("utf-8", "surrogateescape")
        )
    if not wrote_length:
        out.append(f"Content-Length: {body_length}".encode())
    out.append(b"")
    out.append(msg.body)
    return b"\r\n".join(out)


def parse_message(data: bytes) -> Message:
    """Parse one SIP message; raises :class:`SipParseError` (only) on any malformation."""
    try:
        return _parse(bytes(data))
    except SipParseError:
        raise
    except Exception as exc:  # defence in depth: no other exception may escape (see tests)
        raise SipParseError(f"unparseable message ({type(exc).__name__})") from exc


def _parse(data: bytes) -> Message:
    if len(data) > MAX_MESSAGE_SIZE:
        raise MessageTooLargeError(f"message of {len(data)} bytes")
    begin = 0
    while data.startswith(b"\r\n", begin):  # RFC 3261 §7.5: ignore CRLFs before start line
        begin += 2
    end = data.find(b"\r\n\r\n", begin)
    if end < 0:
        raise SipParseError("no empty line after the header fields")
    head = data[begin:end]
    raw_lines = head.split(b"\r\n")
    if len(raw_lines) > MAX_HEADER_LINES:
        raise MessageTooLargeError("too many header lines")
    if head.count(b"\n") != len(raw_lines) - 1 or head.count(b"\r") != len(raw_lines) - 1:
        raise SipParseError("bare CR or LF in the header section")
    # CR and LF keep their positions through this decoding, so the lists stay parallel.
    text_lines = head.decode("utf-8", "surrogateescape").split("\r\n")
    start = text_lines[0]
    lines = _header_lines(raw_lines[1:], text_lines[1:])
    headers = Headers.from_wire(lines)
    body_start = end + 4
    declared = _content_length(lines)
    available = len(data) - body_start
    # RFC 3261 §18.3: without Content-Length a datagram's body is the rest of it; octets
    # beyond Content-Length are discarded; a shortfall is for validate_request (400).
    body_end = len(data) if declared is None or declared > available else body_start + declared
    body = data[body_start:body_end]
    first, second, third = _split_start_line(start)
    msg: Message
    if first.startswith("SIP/"):
        msg = Response(_status(second), third, headers, body, first)
    else:
        msg = Request(_method(first), _request_uri(second), headers, body, third)
        if not third.startswith("SIP/"):
            raise SipParseError(f"bad SIP version {third[:20]!r}")
    msg.declared_length = declared
    msg._wire = _Wire(data[begin:body_end], start, first, second, third, body)
    return msg


def _split_start_line(start: str) -> tuple[str, str, str]:
    if len(start) > MAX_LINE_LENGTH:
        raise MessageTooLargeError("start line too long")
    if any(ch in start for ch in "\r\n\t\x00"):
        raise SipParseError("control character in start line")
    if start.startswith("SIP/"):
        # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2); accept a
        # missing final SP for an empty reason, as liberal receivers do.
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        return version, code, reason
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        # Exactly one SP between elements (§7.1; RFC 4475 §3.1.2.11/12 lwsstart, trws).
        raise SipParseError(f"malformed Request-Line {start[:80]!r}")
    return parts[0], parts[1], parts[2]


def _status(text: str) -> int:
    if len(text) != 3 or not text.isascii() or not text.isdigit() or not "100" <= text <= "699":
        raise SipParseError(f"bad status code {text[:20]!r}")  # §7.2: 3DIGIT, 1xx-6xx
    return int(text)


def _method(text: str) -> str:
    if not is_token(text):
        raise SipParseError(f"bad method {text[:40]!r}")
    return text


def _request_uri(text: str) -> Uri:
    return Uri.parse(text)


def _header_lines(raw_lines: list[bytes], text_lines: list[str]) -> list[HeaderLine]:
    lines: list[HeaderLine] = []
    for raw, text in zip(raw_lines, text_lines, strict=True):
        if len(raw) > MAX_LINE_LENGTH:
            raise MessageTooLargeError("header line too long")
        if text[:1] in (" ", "\t"):
            # §7.3.1 line folding: a continuation line is the same value after one SP.
            if not lines:
                raise SipParseError("continuation line before the first header")
            last = lines[-1]
            last.value = (last.value + " " + text.strip(" \t")).strip(" \t")
            last.raw = (last.raw or b"") + b"\r\n" + raw
            continue
        name, colon, value = text.partition(":")
        if not colon or (name not in _VALID_NAMES and not _valid_name(name)):
            raise SipParseError(f"malformed header line {text[:60]!r}")
        lines.append(HeaderLine(name.rstrip(" \t"), value.strip(" \t"), raw))
    return lines


_VALID_NAMES: set[str] = set()  # header names seen valid, as spelled on the wire (bounded)


def _valid_name(name: str) -> bool:
    if not is_token(name.rstrip(" \t")):
        return False
    if len(_VALID_NAMES) < 512:
        _VALID_NAMES.add(name)
    return True


def _content_length(lines: list[HeaderLine]) -> int | None:
    values = {line.value for line in lines if line.key == "content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise SipParseError("conflicting Content-Length values")  # RFC 4475 §3.4.? mcl01
    return _digits(values.pop(), "Content-Length")


def make_response(
    request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6: Via (all, in order), From, To (with
    ``to_tag`` added when it has none), Call-ID and CSeq copied; Content-Length: 0."""
    headers = Headers()
    for name, value in request.headers.items():
        if name in ("Via", "From", "Call-ID", "CSeq") or (name == "Timestamp" and status == 100):
            headers.add(name, value)  # §8.2.6.1: a 100 echoes Timestamp
        elif name == "To":
            if to_tag is not None and request.to.tag is None:
                value = f"{value};tag={to_tag}"
            headers.add(name, value)
    headers.add("Content-Length", "0")
    headers.modified = False
    return Response(status, reason or REASON_PHRASES.get(status, ""), headers)


def new_branch() -> str:
    """A Via branch with the RFC 3261 §8.1.1.7 magic cookie, unique in space and time."""
    return BRANCH_COOKIE + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(6)  # §19.3: at least 32 bits of randomness


def new_call_id() -> str:
    return secrets.token_hex(16)  # §8.1.1.4: globally unique


_SINGLE_VALUED = ("To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length")
_SUPPORTED_SCHEMES = frozenset({"sip", "sips", "tel"})


def validate_request(
    request: Request,
    *,
    supported_extensions: Collection[str] | None = None,
    require_max_forwards: bool = True,
) -> None:
    """The checks a UAS or proxy makes after parsing (RFC 3261 §8.2, §16.3), raising the
    SipError whose response fits, in this order:

    1. SIP-Version is SIP/2.0, else 505 (§8.2 and §21.5.7).
    2. Via, To, From, Call-ID, CSeq and (unless ``require_max_forwards`` is False, for RFC
       2543 peers) Max-Forwards are present, else 400 (§8.1.1); To, From, Call-ID, CSeq,
       Max-Forwards and Content-Length appear once (§7.3.1), else 400.
    3. Via, To, From, CSeq, Max-Forwards, Contact and Expires parse, else 400.
    4. The CSeq method equals the request method, else 400 (§8.1.1.5).
    5. Content-Length is not larger than the body received, else 400 (§18.3).
    6. The Request-URI scheme is sip, sips or tel, else 416 (§8.2.2.1); a SIP Request-URI
       carries no headers, else 400 (§19.1.1, RFC 4475 escruri).
    7. The top Via branch is not the bare magic cookie, else 400 (RFC 4475 badbranch).
    8. Max-Forwards is not 0 unless the method is OPTIONS, else 483 (§16.3 item 3).
    9. When ``supported_extensions`` is given, every Require option is in it, else 420
       (§8.2.2.3; not for ACK and CANCEL).
    """
    if request.version != SIP_VERSION:
        raise VersionNotSupported(f"version {request.version[:20]} not supported")
    _check_presence(request, require_max_forwards)
    _check_syntax(request)
    if request.cseq.method != request.method:
        raise SipParseError("CSeq method does not match the request method")
    if request.declared_length is not None and request.declared_length > len(request.body):
        raise SipParseError("Content-Length larger than the body")
    if request.uri.scheme not in _SUPPORTED_SCHEMES:
        raise UnsupportedUriScheme(f"unsupported URI scheme {request.uri.scheme[:20]}")
    if request.uri.headers:
        raise SipParseError("headers in the Request-URI")
    if request.top_via.branch == BRANCH_COOKIE:
        raise SipParseError("Via branch without a transaction identifier")
    if request.max_forwards == 0 and request.method != "OPTIONS":
        raise TooManyHops("Max-Forwards is 0")
    if supported_extensions is not None and request.method not in ("ACK", "CANCEL"):
        missing = [x for x in request.headers.get_all("Require") if x not in supported_extensions]
        if missing:
            raise BadExtension(", ".join(missing))


def _check_presence(request: Request, require_max_forwards: bool) -> None:
    mandatory = ["Via", "To", "From", "Call-ID", "CSeq"]
    if require_max_forwards:
        mandatory.append("Max-Forwards")
    for name in mandatory:
        if not request.headers.get(name):
            raise SipParseError(f"missing {name} header")
    for name in _SINGLE_VALUED:
        if request.headers.count(name) > 1:
            raise SipParseError(f"more than one {name} header")


def _check_syntax(request: Request) -> None:
    if not request.vias:
        raise SipParseError("empty Via header")
    request.to  # noqa: B018 - parsing is the check
    request.from_  # noqa: B018
    request.cseq  # noqa: B018
    request.max_forwards  # noqa: B018
    request.contacts  # noqa: B018
    request.expires  # noqa: B018
