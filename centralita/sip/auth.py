"""HTTP Digest authentication for SIP: the server side and the digest computation.

RFC 3261 §22.4 adapts RFC 2617 Digest to SIP; RFC 7616 is the current Digest text and
RFC 8760 brings its SHA-256 algorithm (and the "-sess" variants) to SIP.

Theory of operation. ``DigestAuthenticator.challenge`` issues one WWW-Authenticate /
Proxy-Authenticate value per algorithm, preferred first (RFC 8760 §2.4), all sharing one nonce.
Nonces are stateless (RFC 7616 §3.3, RFC 2617 §3.2.1): ``b64url(issued-ms ‖ random ‖ MAC)``
where MAC = HMAC-SHA-256(secret, realm ‖ issued-ms ‖ random), so any worker holding the secret
can check a nonce, a nonce issued for one realm (tenant) is useless in another, and its age is
known without a lookup. The only state is the highest nonce-count seen per nonce once a
response with ``qop`` verified (RFC 7616 §3.4: a repeated nc is a replay); entries are dropped
when their nonce expires, and a hard cap evicts the oldest (their nonces are then answered as
stale, so the client simply fetches a fresh one).

``verify`` never tells the client *why* it failed: an unknown user is checked against a decoy
HA1 with the same work as a known one and yields the same ``FAILED`` outcome as a wrong
password (the ``reason`` is for server logs only). A correct response over an expired nonce
yields ``STALE`` (the caller re-challenges with ``stale=true``, RFC 7616 §3.3).

``now`` must come from a clock every verifier shares (one host's monotonic clock, or wall time
across hosts): the nonce carries the issuer's timestamp.

The client side (answering a challenge) is ``centralita.sip.auth_client``; it shares this
module's hashing (``ha1``, ``digest_response``) and auth-param grammar (``digest_params``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

from centralita.sip.errors import SipParseError

__all__ = [
    "AuthOutcome",
    "AuthResult",
    "DigestAuthenticator",
    "DigestCredentials",
    "MalformedCredentials",
    "canonical_algorithm",
    "credentials_for_realm",
    "digest_params",
    "digest_response",
    "escape_quoted",
    "ha1",
    "parse_credentials",
    "uri_matches",
]

# RFC 8760 §2.2 / RFC 7616 §3.2: algorithm name -> hash. "-sess" variants reuse the base hash.
_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
_ALGORITHMS = {name.upper(): name for base in _HASHES for name in (base, f"{base}-sess")}
_QOPS = frozenset({"auth", "auth-int"})
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_UNQUOTED_VALUE = re.compile(r'[^\s,"]+')
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SCHEME = re.compile(r"[ \t]*([^ \t]+)[ \t]*(.*?)[ \t]*", re.DOTALL)
_NC = re.compile(r"[0-9A-Fa-f]{8}")
_NONCE_RANDOM = 12
_NONCE_MAC = 16
_NONCE_LEN = 8 + _NONCE_RANDOM + _NONCE_MAC
_CLOCK_SKEW = 5.0  # seconds a nonce may appear to come from the future (workers' clocks)


class MalformedCredentials(SipParseError):
    """An Authorization / Proxy-Authorization value that is not valid Digest syntax (400)."""


def _base_algorithm(algorithm: str) -> str:
    return algorithm.removesuffix("-sess")


def _hash(algorithm: str, text: str) -> str:
    return _HASHES[_base_algorithm(algorithm)](text.encode("utf-8", "surrogatepass"))


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username ":" realm ":" password), lower-case hex (RFC 7616 §3.4.2).

    This is what the store keeps instead of the password; ``algorithm`` is "MD5" or
    "SHA-256" (a "-sess" name gives the same value: the session part needs the nonce).
    """
    canonical = canonical_algorithm(algorithm)
    if canonical is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _hash(canonical, f"{username}:{realm}:{password}")


def digest_response(
    ha1_hex: str,
    *,
    algorithm: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2069 form when ``qop`` is None)."""
    if algorithm.endswith("-sess"):
        # RFC 7616 §3.4.2: A1 for the -sess algorithms.
        ha1_hex = _hash(algorithm, f"{ha1_hex}:{nonce}:{cnonce}")
    if qop == "auth-int":
        # RFC 3261 §22.4 item 7: an empty body hashes as H("").
        body_hash = _HASHES[_base_algorithm(algorithm)](body)
        ha2 = _hash(algorithm, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hash(algorithm, f"{ha1_hex}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def canonical_algorithm(name: str) -> str | None:
    """Our spelling of a supported algorithm name, or None (RFC 7616 §3.3: case-insensitive)."""
    return _ALGORITHMS.get(name.upper())


# --- auth-param lists (RFC 3261 §25.1 / RFC 7235 §2.1) ------------------------------------


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _quoted(text: str, i: int) -> tuple[str, int]:
    """Parse the quoted-string starting at ``text[i] == '"'``; quoted-pair unescaped."""
    out: list[str] = []
    i += 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":
            i += 1
            if i == len(text):
                break
            char = text[i]
        out.append(char)
        i += 1
    raise MalformedCredentials("unterminated quoted-string in auth parameters")


def _param_value(text: str, i: int) -> tuple[str, bool, int]:
    if i < len(text) and text[i] == '"':
        value, i = _quoted(text, i)
        return value, True, i
    match = _UNQUOTED_VALUE.match(text, i)
    if match is None:
        raise MalformedCredentials("missing auth parameter value")
    return match.group(), False, match.end()


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i = _skip_ws(text, 0)
    while i < len(text):
        if text[i] == ",":  # RFC 7230 §7: empty list elements are tolerated
            i = _skip_ws(text, i + 1)
            continue
        name = _TOKEN.match(text, i)
        if name is None:
            raise MalformedCredentials(f"bad auth parameter name at {text[i : i + 20]!r}")
        i = _skip_ws(text, name.end())
        if i == len(text) or text[i] != "=":
            raise MalformedCredentials(f"auth parameter {name.group()!r} has no value")
        value, _, i = _param_value(text, _skip_ws(text, i + 1))
        key = name.group().lower()
        if key in params:  # RFC 7235 §2.1: each parameter name only once
            raise MalformedCredentials(f"duplicate auth parameter {key!r}")
        params[key] = value
        i = _skip_ws(text, i)
        if i < len(text) and text[i] != ",":
            raise MalformedCredentials(f"expected ',' in auth parameters at {text[i : i + 20]!r}")
    return params


def digest_params(value: str, what: str) -> dict[str, str]:
    """The auth-params of a Digest challenge or credentials value, names lower-cased.

    ``MalformedCredentials`` if the scheme is not Digest (the message says "not ``what``")
    or the list is not valid auth-param syntax.
    """
    if _CTL.search(value):
        raise MalformedCredentials("control character in auth header")
    match = _SCHEME.fullmatch(value)
    if match is None:
        raise MalformedCredentials("empty auth header")
    scheme, rest = match.group(1), match.group(2)
    if scheme.lower() != "digest":
        raise MalformedCredentials(f"not {what}: {scheme[:20]!r}")
    return _parse_params(rest)


def escape_quoted(text: str) -> str:
    """``text`` escaped for the inside of a quoted-string (RFC 3261 §25.1 quoted-pair)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


# --- credentials -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """A parsed Digest ``Authorization`` / ``Proxy-Authorization`` value (RFC 3261 §25.1)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"  # canonical spelling, or the client's if unknown to us
    qop: str | None = None
    nc: str | None = None  # 8 hex digits, as sent (it enters the hash verbatim)
    cnonce: str | None = None
    opaque: str | None = None

    @property
    def nonce_count(self) -> int | None:
        return int(self.nc, 16) if self.nc is not None else None


_REQUIRED = ("username", "realm", "nonce", "uri", "response")


def parse_credentials(value: str) -> DigestCredentials:
    """Parse a Digest credentials header value; ``MalformedCredentials`` (400) otherwise.

    Unknown parameters are ignored (RFC 7616 §3.4); qop/algorithm/nc are accepted quoted too.
    """
    params = digest_params(value, "Digest credentials")
    missing = [name for name in _REQUIRED if name not in params]
    if missing:
        raise MalformedCredentials(f"Digest credentials lack {', '.join(missing)}")
    algorithm = params.get("algorithm", "MD5")
    qop = params.get("qop")
    nc, cnonce = params.get("nc"), params.get("cnonce")
    if qop is not None:
        # RFC 7616 §3.4: with qop, both cnonce and an 8LHEX nonce-count are required.
        if cnonce is None or nc is None:
            raise MalformedCredentials("Digest credentials with qop lack nc or cnonce")
        if not _NC.fullmatch(nc):
            raise MalformedCredentials(f"bad nonce-count {nc[:20]!r}")
    return DigestCredentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"],
        algorithm=canonical_algorithm(algorithm) or algorithm,
        qop=qop.lower() if qop is not None else None,
        nc=nc if qop is not None else None,
        cnonce=cnonce,
        opaque=params.get("opaque"),
    )


def credentials_for_realm(values: Iterable[str], realm: str) -> str | None:
    """Of several Authorization values (one per realm, RFC 3261 §22.3), the one for ``realm``.

    Values that do not parse are skipped; the caller falls back to a fresh challenge.
    """
    for value in values:
        try:
            if parse_credentials(value).realm == realm:
                return value
        except MalformedCredentials:
            continue
    return None


# --- Request-URI comparison --------------------------------------------------------------

# RFC 3261 §19.1.4: these URI parameters must match whenever either URI has them.
_SIGNIFICANT_PARAMS = frozenset({"user", "ttl", "method", "maddr", "transport"})


def _uri_key(uri: str) -> tuple[str, str, str, dict[str, str]] | None:
    scheme, sep, rest = uri.partition(":")
    if not sep:
        return None
    rest = rest.split("?", 1)[0]
    parts = rest.split(";")
    userinfo, at, hostport = parts[0].rpartition("@")
    params: dict[str, str] = {}
    for param in parts[1:]:
        name, _, val = param.partition("=")
        params[unquote(name).lower()] = unquote(val).lower()
    user = unquote(userinfo) if at else ""
    return scheme.lower(), user, unquote(hostport).lower(), params


def uri_matches(digest_uri: str, request_uri: str) -> bool:
    """Whether the digest ``uri`` names the Request-URI the client sent.

    RFC 3261 §22.4 item 6 lets a server check the two correspond; we require them equal,
    byte for byte or equivalent under the SIP URI comparison rules of §19.1.4 (scheme and
    host case-insensitive, user case-sensitive, %-escapes decoded, parameter order ignored).
    """
    if digest_uri == request_uri:
        return True
    left, right = _uri_key(digest_uri), _uri_key(request_uri)
    if left is None or right is None or left[:3] != right[:3]:
        return False
    lp, rp = left[3], right[3]
    for name in (lp.keys() | rp.keys()) & _SIGNIFICANT_PARAMS:
        if lp.get(name) != rp.get(name):
            return False
    return all(lp[name] == rp[name] for name in lp.keys() & rp.keys())


# --- server ------------------------------------------------------------------------------


class AuthResult(StrEnum):
    OK = "ok"
    STALE = "stale"  # right credentials, expired nonce: challenge again with stale=true
    FAILED = "failed"  # anything else: challenge again (or 403 after too many, caller's call)


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    result: AuthResult
    username: str | None = None
    reason: str = ""  # for server logs; never put it in a response

    @property
    def ok(self) -> bool:
        return self.result is AuthResult.OK

    @property
    def stale(self) -> bool:
        return self.result is AuthResult.STALE


LookupHa1 = Callable[[str, str, str], str | None]


class DigestAuthenticator:
    """Issues Digest challenges and verifies responses (sans-I/O; ``now`` is an argument)."""

    def __init__(
        self,
        secret: bytes,
        *,
        nonce_ttl: float = 300.0,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        qop_options: tuple[str, ...] = ("auth",),
        max_tracked_nonces: int = 65536,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        canonical = [canonical_algorithm(name) for name in algorithms]
        if not canonical or None in canonical:
            raise ValueError(f"unsupported digest algorithms {algorithms!r}")
        if not qop_options or not set(qop_options) <= _QOPS:
            raise ValueError(f"unsupported qop options {qop_options!r}")
        self._secret = secret
        self._ttl = nonce_ttl
        self._algorithms = tuple(name for name in canonical if name is not None)
        self._qops = qop_options
        self._max_tracked = max_tracked_nonces
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()  # nonce -> (issued, nc)
        self._evicted_before = float("-inf")

    # -- challenges --

    def challenge(self, realm: str, now: float, *, stale: bool = False) -> list[str]:
        """WWW-Authenticate (or Proxy-Authenticate) values, most preferred algorithm first."""
        nonce = self._make_nonce(realm, now)
        qop = ",".join(self._qops)
        tail = ", stale=true" if stale else ""
        return [
            f'Digest realm="{escape_quoted(realm)}", nonce="{nonce}", algorithm={algorithm}, '
            f'qop="{qop}"{tail}'
            for algorithm in self._algorithms
        ]

    def _mac(self, realm: str, stamp: bytes) -> bytes:
        data = realm.encode("utf-8", "surrogatepass") + b"\x00" + stamp
        return hmac.new(self._secret, data, hashlib.sha256).digest()[:_NONCE_MAC]

    def _make_nonce(self, realm: str, now: float) -> str:
        stamp = struct.pack(">q", round(now * 1000)) + secrets.token_bytes(_NONCE_RANDOM)
        return base64.urlsafe_b64encode(stamp + self._mac(realm, stamp)).decode("ascii")

    def _nonce_issued(self, nonce: str, realm: str) -> float | None:
        """When we issued ``nonce`` for ``realm``, or None if we did not (forged/foreign)."""
        try:
            raw = base64.urlsafe_b64decode(nonce.encode("ascii"))
        except (UnicodeEncodeError, binascii.Error, ValueError):
            return None
        # Only the canonical spelling: one nonce, one nonce-count record.
        if len(raw) != _NONCE_LEN or base64.urlsafe_b64encode(raw).decode() != nonce:
            return None
        stamp, mac = raw[:-_NONCE_MAC], raw[-_NONCE_MAC:]
        if not hmac.compare_digest(mac, self._mac(realm, stamp)):
            return None
        (millis,) = struct.unpack(">q", stamp[:8])
        return float(millis) / 1000.0

    # -- verification --

    def verify(
        self,
        header_value: str,
        *,
        method: str,
        request_uri: str,
        realm: str,
        lookup_ha1: LookupHa1,
        now: float,
        body: bytes = b"",
    ) -> AuthOutcome:
        """Check one Authorization / Proxy-Authorization value against the request.

        ``request_uri`` is the Request-URI exactly as it appeared in the request line;
        ``lookup_ha1(username, realm, algorithm)`` returns the stored HA1 for "MD5" or
        "SHA-256", or None. Raises ``MalformedCredentials`` (400) on bad syntax only.
        """
        creds = parse_credentials(header_value)
        problem = self._check_params(creds, realm, request_uri)
        if problem:
            return AuthOutcome(AuthResult.FAILED, creds.username, problem)
        issued = self._nonce_issued(creds.nonce, realm)
        if issued is None:
            return AuthOutcome(AuthResult.FAILED, creds.username, "nonce not ours")
        if not self._response_correct(creds, method, body, lookup_ha1):
            return AuthOutcome(AuthResult.FAILED, creds.username, "bad credentials")
        if self._expired(creds.nonce, issued, now):
            return AuthOutcome(AuthResult.STALE, creds.username, "nonce expired")
        if creds.qop is not None and not self._advance_count(creds, issued, now):
            return AuthOutcome(AuthResult.FAILED, creds.username, "nonce-count replayed")
        return AuthOutcome(AuthResult.OK, creds.username, "")

    def _check_params(self, creds: DigestCredentials, realm: str, request_uri: str) -> str:
        if creds.realm != realm:
            return "realm mismatch"
        if creds.algorithm not in self._algorithms:
            return f"algorithm {creds.algorithm!r} not offered"
        if creds.qop is None and creds.algorithm.endswith("-sess"):
            return "-sess algorithm without qop"
        if creds.qop is not None and creds.qop not in self._qops:
            return f"qop {creds.qop!r} not offered"
        if not uri_matches(creds.uri, request_uri):
            return "digest uri differs from Request-URI"
        return ""

    def _response_correct(
        self, creds: DigestCredentials, method: str, body: bytes, lookup_ha1: LookupHa1
    ) -> bool:
        base = _base_algorithm(creds.algorithm)
        stored = lookup_ha1(creds.username, creds.realm, base)
        # An unknown user costs the same work as a known one and fails the same way.
        secret_ha1 = stored if stored is not None else self._decoy_ha1(creds, base)
        expected = digest_response(
            secret_ha1.lower(),
            algorithm=creds.algorithm,
            nonce=creds.nonce,
            method=method,
            uri=creds.uri,
            qop=creds.qop,
            nc=creds.nc,
            cnonce=creds.cnonce,
            body=body,
        )
        given = creds.response.lower().encode("utf-8", "surrogatepass")
        return hmac.compare_digest(expected.encode("ascii"), given) and stored is not None

    def _decoy_ha1(self, creds: DigestCredentials, base: str) -> str:
        data = f"decoy\x00{creds.username}\x00{creds.realm}".encode("utf-8", "surrogatepass")
        return _HASHES[base](hmac.new(self._secret, data, hashlib.sha256).digest())

    def _expired(self, nonce: str, issued: float, now: float) -> bool:
        if now - issued > self._ttl or issued - now > _CLOCK_SKEW:
            return True
        # A nonce older than an evicted count entry may have been used already: refresh it.
        return nonce not in self._counts and issued <= self._evicted_before

    def _advance_count(self, creds: DigestCredentials, issued: float, now: float) -> bool:
        """RFC 7616 §3.4: the nonce-count must grow for each request under one nonce."""
        self._prune(now)
        count = creds.nonce_count or 0
        previous = self._counts.get(creds.nonce)
        if previous is not None and count <= previous[1]:
            return False
        self._counts[creds.nonce] = (issued, count)
        while len(self._counts) > self._max_tracked:
            _, (oldest_issued, _) = self._counts.popitem(last=False)
            self._evicted_before = max(self._evicted_before, oldest_issued)
        return True

    def _prune(self, now: float) -> None:
        while self._counts:
            nonce, (issued, _) = next(iter(self._counts.items()))
            if now - issued <= self._ttl:
                break
            del self._counts[nonce]

    @property
    def tracked_nonces(self) -> int:
        """How many nonce-counts are remembered (bounded; for tests and metrics)."""
        return len(self._counts)
