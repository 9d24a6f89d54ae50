"""SIP, SIPS and tel URIs, name-addr values and Via values (RFC 3261 §19.1, §20, §25.1).

Parsing is string based, without regular expressions on the hot path, and strict enough to
reject the malformed RFC 4475 examples (spaces inside ``<>``, unterminated quotes, unquoted
non-token display names). Every error is a :class:`SipParseError`.

Percent escapes are decoded once (never recursively, RFC 3986 §2.4) in the user, password,
parameter and header parts of SIP URIs; :meth:`Uri.__str__` escapes again whatever is not
allowed unescaped. Undecodable octets survive as surrogate escapes so nothing is lost.
IPv6 hosts are stored without brackets (like :class:`~centralita.sip.address.Address`) and
regain them on output.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from centralita.sip.errors import SipParseError

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_MARK = frozenset("-_.!~*'()")
_UNRESERVED = _ALNUM | _MARK
# RFC 3261 §25.1 character classes for the parts of a SIP URI.
_USER_SAFE = _UNRESERVED | frozenset("&=+$,;?/")
_PASSWORD_SAFE = _UNRESERVED | frozenset("&=+$,")
_PARAM_SAFE = _UNRESERVED | frozenset("[]/:&+$")
_HEADER_SAFE = _UNRESERVED | frozenset("[]/?:+$")
TOKEN_CHARS = _ALNUM | frozenset("-.!%*_+`'~")
_HEX = frozenset("0123456789abcdefABCDEF")
# Single character classes only: linear time, no backtracking.
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_HOST_RE = re.compile(r"[A-Za-z0-9\-.]+")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_URI_FORBIDDEN_RE = re.compile(r'[\x00-\x20<>"\x7f]')

SIP_SCHEMES = frozenset({"sip", "sips"})
MAX_PORT = 65535


def unescape(text: str) -> str:
    """Decode %HH escapes once; a '%' not followed by two hex digits is kept literally."""
    if "%" not in text:
        return text
    data = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x25 and _is_hex_pair(data[i + 1 : i + 3]):
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _is_hex_pair(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(b) in _HEX for b in pair)


def escape(text: str, safe: frozenset[str]) -> str:
    """%-escape every octet of ``text`` that is not in ``safe`` (RFC 3261 §25.1 escaped)."""
    if all(ch in safe for ch in text):
        return text
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        out.append(ch if byte < 128 and ch in safe else f"%{byte:02X}")
    return "".join(out)


def is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None


def split_quoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes and angle brackets (RFC 3261 §7.3.1)."""
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    quoted = False
    angle = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle += 1
        elif ch == ">" and angle:
            angle -= 1
        elif ch == sep and not angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise SipParseError("unterminated quoted string")
    parts.append(text[start:])
    return parts


def parse_params(text: str, *, lower_names: bool = True) -> dict[str, str | None]:
    """Parse ``;name[=value]`` pairs (leading ';' already removed); LWS around '=' allowed."""
    params: dict[str, str | None] = {}
    for item in split_quoted(text, ";"):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipParseError(f"bad parameter {item.strip()!r}")
        key = name.lower() if lower_names else name
        if not eq:
            params[key] = None
            continue
        value = value.strip()
        if not value or not _valid_param_value(value):
            raise SipParseError(f"bad value for parameter {name!r}")
        params[key] = value
    return params


def _valid_param_value(value: str) -> bool:
    if value[0] == '"':
        return quoted_end(value, 0) == len(value)
    # RFC 3261 §25.1 gen-value = token / host / quoted-string; be liberal with UTF-8 octets.
    return not any(ch in ' \t\r\n";,<>' for ch in value)


def quoted_end(text: str, start: int) -> int:
    """Index just past the quoted-string opening at ``text[start]`` (RFC 3261 §25.1)."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    raise SipParseError("unterminated quoted string")


def unquote(text: str) -> str:
    """The content of a quoted-string with its quoted-pairs resolved."""
    inner = text[1:-1]
    if "\\" not in inner:
        return inner
    out = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            i += 1
        out.append(inner[i])
        i += 1
    return "".join(out)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def parse_host(text: str) -> str:
    """Validate a host (hostname, IPv4 or bracketed IPv6); return it lower-cased, unbracketed."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise SipParseError(f"bad IPv6 reference {text!r}")
        inner = text[1:-1]
        try:
            ipaddress.IPv6Address(inner.split("%", 1)[0])
        except ValueError:
            raise SipParseError(f"bad IPv6 address {inner!r}") from None
        return inner.lower()
    if _HOST_RE.fullmatch(text) is None:
        raise SipParseError(f"bad host {text!r}")
    return text.lower()


def split_hostport(text: str) -> tuple[str, int | None]:
    """``host[:port]`` with IPv6 references in brackets (RFC 3261 §25.1 hostport)."""
    if text.startswith("["):
        end = text.find("]")
        host_text, rest = text[: end + 1], text[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise SipParseError(f"bad host {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host_text, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
    return parse_host(host_text), _parse_port(port_text)


def _parse_port(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 5 or int(text) > MAX_PORT:
        raise SipParseError(f"bad port {text!r}")
    return int(text)


def format_host(host: str, port: int | None) -> str:
    text = f"[{host}]" if ":" in host else host
    return text if port is None else f"{text}:{port}"


@dataclass
class Uri:
    """A SIP/SIPS URI (RFC 3261 §19.1), a tel URI (RFC 3966) or any other absolute URI.

    For ``tel`` the number (with its visual separators) is ``user`` and ``host`` is empty.
    Other schemes keep their scheme-specific part in ``opaque`` (RFC 3261 §19.1 allows any
    absoluteURI; rejecting them is for the application, e.g. 416 in ``validate_request``).
    """

    scheme: str
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None

    @classmethod
    def parse(cls, text: str) -> Uri:
        if not text or _URI_FORBIDDEN_RE.search(text):
            raise SipParseError(f"bad URI {text[:80]!r}")
        scheme, colon, rest = text.partition(":")
        if not colon or not rest or _SCHEME_RE.fullmatch(scheme) is None:
            raise SipParseError(f"bad URI scheme in {text[:80]!r}")
        scheme = scheme.lower()
        if scheme in SIP_SCHEMES:
            return cls._parse_sip(scheme, rest)
        if scheme == "tel":
            return cls._parse_tel(rest)
        return cls(scheme=scheme, opaque=rest)

    @classmethod
    def _parse_sip(cls, scheme: str, rest: str) -> Uri:
        user = password = None
        at = rest.find("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user_text, colon, password_text = userinfo.partition(":")
            if not user_text:
                raise SipParseError("empty user part in URI")
            user = unescape(user_text)
            password = unescape(password_text) if colon else None
        rest, question, header_text = rest.partition("?")
        hostport, _, param_text = rest.partition(";")
        host, port = split_hostport(hostport)
        params = {k: None if v is None else unescape(v) for k, v in _uri_params(param_text)}
        headers = _uri_headers(header_text) if question else {}
        return cls(scheme, user, password, host, port, params, headers)

    @classmethod
    def _parse_tel(cls, rest: str) -> Uri:
        # RFC 3966 §3: telephone-subscriber = global-number / local-number, then ;params.
        number, _, param_text = rest.partition(";")
        if not number or not all(ch in "0123456789+-.()*#abcdefABCDEFpPwW" for ch in number):
            raise SipParseError(f"bad tel URI number {number!r}")
        params = {k: None if v is None else unescape(v) for k, v in _uri_params(param_text)}
        return cls("tel", user=number, params=params)

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{self._format_params()}"
        userinfo = ""
        if self.user is not None:
            userinfo = escape(self.user, _USER_SAFE)
            if self.password is not None:
                userinfo += ":" + escape(self.password, _PASSWORD_SAFE)
            userinfo += "@"
        text = f"{self.scheme}:{userinfo}{format_host(self.host, self.port)}"
        text += self._format_params()
        if self.headers:
            text += "?" + "&".join(
                f"{escape(k, _HEADER_SAFE)}={escape(v, _HEADER_SAFE)}"
                for k, v in self.headers.items()
            )
        return text

    def _format_params(self) -> str:
        return "".join(
            f";{escape(k, _PARAM_SAFE)}"
            if v is None
            else f";{escape(k, _PARAM_SAFE)}={escape(v, _PARAM_SAFE)}"
            for k, v in self.params.items()
        )

    @property
    def is_sip(self) -> bool:
        return self.scheme in SIP_SCHEMES


def _uri_params(text: str) -> list[tuple[str, str | None]]:
    if not text:
        return []
    out: list[tuple[str, str | None]] = []
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name:
            raise SipParseError(f"empty URI parameter in {text[:80]!r}")
        out.append((unescape(name).lower(), value if eq else None))
    return out


def _uri_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in text.split("&"):
        name, _, value = item.partition("=")
        if not name:
            raise SipParseError("empty URI header name")
        headers[unescape(name)] = unescape(value)
    return headers
