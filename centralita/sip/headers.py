"""Header fields: the ordered, case-insensitive :class:`Headers` collection and the parsed
values of the headers the core uses (name-addr, Via, CSeq). RFC 3261 §7.3, §20, §25.1.

Each stored header line remembers the exact octets it arrived as, so an unmodified message
serialises back byte for byte; lines added or replaced through the API are written in
canonical form (``Name: value``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from centralita.sip.errors import SipParseError
from centralita.sip.uri import (
    TOKEN_CHARS,
    Uri,
    format_host,
    format_params,
    is_token,
    parse_params,
    quote,
    quoted_end,
    split_hostport,
    split_quoted,
    unquote,
)

# RFC 3261 §7.3.3 and §20 (plus RFC 3265, 3515, 3892, 4028, 3841, 4474) compact forms.
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN = [
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity",
    "In-Reply-To", "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version", "Organization",
    "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority", "Proxy-Authenticate",
    "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To",
    "Referred-By", "Reply-To", "Replaces", "Require", "Retry-After", "Route", "RSeq",
    "Server", "Service-Route", "Session-Expires", "SIP-ETag", "SIP-If-Match", "Subject",
    "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
    "Warning", "WWW-Authenticate", "Accept-Contact", "Reject-Contact", "Request-Disposition",
    "Content-Transfer-Encoding",
]  # fmt: skip
_CANONICAL = {name.lower(): name for name in _KNOWN}

# Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1); never the auth
# headers, Date, or headers we do not know (their commas may mean anything).
LIST_HEADERS = frozenset(
    name.lower()
    for name in [
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info",
        "In-Reply-To", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Proxy-Require",
        "Reason", "Record-Route", "Require", "Route", "Service-Route", "Supported",
        "Unsupported", "Via", "Warning",
    ]
)  # fmt: skip


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name; unknown names are returned as given."""
    known = _BY_SPELLING.get(name)
    if known is not None:
        return known
    lower = name.lower()
    if len(lower) == 1:
        return COMPACT_FORMS.get(lower, name)
    return _CANONICAL.get(lower, name)


# Exact spellings seen on the wire, for a dictionary hit per header line.
_BY_SPELLING = {spelling: name for name in _KNOWN for spelling in (name, name.lower())}
_BY_SPELLING.update((letter, name) for letter, name in COMPACT_FORMS.items())
_BY_SPELLING.update((letter.upper(), name) for letter, name in COMPACT_FORMS.items())


class HeaderLine:
    __slots__ = ("key", "name", "raw", "value")

    def __init__(self, name: str, value: str, raw: bytes | None = None) -> None:
        self.name = canonical_name(name)
        self.key = self.name.lower()
        self.value = value
        self.raw = raw


class Headers:
    """Ordered, case-insensitive header lines; compact forms are stored under full names."""

    __slots__ = ("_lines", "modified")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._lines = [HeaderLine(name, value) for name, value in items]
        self.modified = False

    @classmethod
    def from_wire(cls, lines: list[HeaderLine]) -> Headers:
        headers = cls()
        headers._lines = lines
        return headers

    def get(self, name: str) -> str | None:
        key = canonical_name(name).lower()
        for line in self._lines:
            if line.key == key:
                return line.value
        return None

    def get_all(self, name: str) -> list[str]:
        key = canonical_name(name).lower()
        values = [line.value for line in self._lines if line.key == key]
        if key not in LIST_HEADERS:
            return values
        out: list[str] = []
        for value in values:
            if "," not in value:
                if value:
                    out.append(value)
                continue
            out.extend(part for part in (p.strip() for p in split_quoted(value, ",")) if part)
        return out

    def count(self, name: str) -> int:
        """How many header lines of that name are stored (before list splitting)."""
        key = canonical_name(name).lower()
        return sum(1 for line in self._lines if line.key == key)

    def set(self, name: str, value: str) -> None:
        key = canonical_name(name).lower()
        for index, line in enumerate(self._lines):
            if line.key == key:
                self._lines[index] = HeaderLine(name, value)
                self._lines[index + 1 :] = [x for x in self._lines[index + 1 :] if x.key != key]
                break
        else:
            self._lines.append(HeaderLine(name, value))
        self.modified = True

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        line = HeaderLine(name, value)
        if not first:
            self._lines.append(line)
        else:
            # "first" means before the existing lines of that name (e.g. a new top Via).
            index = next((i for i, x in enumerate(self._lines) if x.key == line.key), 0)
            self._lines.insert(index, line)
        self.modified = True

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self._lines = [line for line in self._lines if line.key != key]
        self.modified = True

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> list[tuple[str, str]]:
        return [(line.name, line.value) for line in self._lines]

    def raw_lines(self) -> list[tuple[str, str, bytes | None]]:
        """(canonical name, value, original octets or None) for the serialiser."""
        return [(line.name, line.value, line.raw) for line in self._lines]

    def copy(self) -> Headers:
        return Headers(self.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self.items() == other.items()

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    def __len__(self) -> int:
        return len(self._lines)


class CSeq(NamedTuple):
    """RFC 3261 §20.16: sequence number (32 bit) and method."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
            raise SipParseError(f"bad CSeq {text[:80]!r}")
        number = int(parts[0])
        if number > 0xFFFFFFFF:  # §8.1.1.5: "MUST be expressible as a 32-bit unsigned integer"
            raise SipParseError("CSeq number larger than 2**32-1")
        if not is_token(parts[1]):
            raise SipParseError(f"bad CSeq method {parts[1][:40]!r}")
        return cls(number, parts[1])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@dataclass
class NameAddr:
    """name-addr or addr-spec with header parameters (RFC 3261 §20.10, §20.20, §20.39)."""

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        if not text:
            raise SipParseError("empty address")
        display: str | None = None
        if text[0] == '"':
            end = quoted_end(text, 0)
            display = unquote(text[:end])
            rest = text[end:].lstrip()
            if not rest.startswith("<"):
                raise SipParseError("quoted display name without <URI>")
        else:
            lt = text.find("<")
            rest = text[lt:] if lt >= 0 else text
            if lt > 0:
                display = _token_display_name(text[:lt])
        if rest.startswith("<"):
            gt = rest.find(">")
            if gt < 0:
                raise SipParseError("missing '>' in address")
            uri = Uri.parse(rest[1:gt])
            param_text = rest[gt + 1 :].strip()
        else:
            uri_text, param_text = _split_addr_spec(rest)
            uri = Uri.parse(uri_text)
        return cls(uri, display, _header_params(param_text))

    def __str__(self) -> str:
        name = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"


def _token_display_name(text: str) -> str | None:
    # RFC 3261 §25.1 display-name = *(token LWS) / quoted-string
    name = text.strip()
    if any(ch not in TOKEN_CHARS and ch not in " \t" for ch in name):
        raise SipParseError(f"unquoted display name with non-token characters {name[:40]!r}")
    return name or None


def _split_addr_spec(text: str) -> tuple[str, str]:
    # RFC 3261 §20.10: without <>, parameters after the URI belong to the header, and a URI
    # holding ',', '?' or ';' had to be bracketed. Parameters start after the host part.
    at = text.find("@")
    semi = text.find(";", at + 1)
    uri_text, param_text = (text, "") if semi < 0 else (text[:semi], text[semi:])
    if "?" in uri_text[at + 1 :]:
        raise SipParseError("URI with headers must be enclosed in <>")
    return uri_text.rstrip(), param_text.strip()


def _header_params(text: str) -> dict[str, str | None]:
    if not text:
        return {}
    if text[0] != ";":
        raise SipParseError(f"junk after address {text[:40]!r}")
    return parse_params(text[1:])


@dataclass
class Via:
    """One Via value (RFC 3261 §20.42) with the RFC 3581 rport/received parameters."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def rport(self) -> str | None:
        """The rport value; None when absent or present without value (see ``has_rport``)."""
        return self.params.get("rport")

    @property
    def has_rport(self) -> bool:
        return "rport" in self.params

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @classmethod
    def parse(cls, text: str) -> Via:
        head, semi, param_text = text.partition(";")
        parts = head.split("/", 2)
        if len(parts) != 3:
            raise SipParseError(f"bad Via sent-protocol {text[:80]!r}")
        name, version = parts[0].strip(), parts[1].strip()
        transport, _, sent_by = parts[2].strip().partition(" ")
        if not (is_token(name) and is_token(version) and is_token(transport)):
            raise SipParseError(f"bad Via sent-protocol {text[:80]!r}")
        host, port = split_hostport(_compact_sent_by(sent_by))
        params = parse_params(param_text) if semi else {}
        return cls(transport.upper(), host, port, params, f"{name.upper()}/{version}")

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {format_host(self.host, self.port)}" + (
            format_params(self.params)
        )


def _compact_sent_by(text: str) -> str:
    # sent-by = host [ COLON port ] where COLON may carry LWS (RFC 3261 §25.1).
    text = text.strip()
    if " " in text or "\t" in text:
        host, colon, port = text.rpartition(":")
        text = host.strip() + colon + port.strip() if colon else text
        if " " in text or "\t" in text:
            raise SipParseError(f"bad Via sent-by {text[:80]!r}")
    if not text:
        raise SipParseError("Via without sent-by")
    return text
