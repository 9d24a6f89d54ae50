"""SRTP keyed by SDP Security Descriptions (SDES, RFC 4568), on ``pylibsrtp`` (libsrtp 2).

Theory of operation. With SDES each side puts, in its SDP, the master key it will *send* with
(RFC 4568 §6.1: "the key ... is used by the sender of the SDP"): an ``a=crypto`` line per
acceptable crypto suite in the offer; the answerer picks one, answers with the same tag and
suite and its own fresh key (§5.1.2, §7.1.2). Afterwards each side protects what it sends with
its own key and unprotects what it receives with the peer's, so an ``SrtpParams`` holds both
keys and the suite; ``SrtpContext`` turns them into two libsrtp sessions.

Supported crypto suites are the two that every SDES phone speaks (RFC 4568 §6.2):
AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32 (16-octet master key plus 14-octet master
salt, base64 in ``inline:``). Not supported, so such an offered line is passed over (§5.1.2:
an answerer must not accept a crypto attribute with parameters it does not support): MKI
(pylibsrtp exposes no MKI), several keys in one line, and the session parameters that change
the transform (KDR other than 0, UNENCRYPTED_*, UNAUTHENTICATED_SRTP, FEC_*). The window size
hint WSH (§6.3.7) is accepted: libsrtp's replay window (128) is above its 64-packet minimum.

Errors: ``SrtpError`` for a packet that fails authentication, replay or decoding (the endpoint
counts and drops it); ``NoAcceptableCrypto`` (488) when an offer holds no line we can use.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pylibsrtp

from centralita.media.errors import MediaError

AES_CM_128_HMAC_SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
AES_CM_128_HMAC_SHA1_32 = "AES_CM_128_HMAC_SHA1_32"

# RFC 4568 §6.2: the suite names and libsrtp's profiles for them.
_PROFILES = {
    AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    AES_CM_128_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
SUPPORTED_SUITES: tuple[str, ...] = (AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32)

# RFC 4568 §6.2 (via RFC 3711 §8.2): 128-bit master key + 112-bit master salt.
KEY_SALT_LENGTH = 30
# RFC 4568 §6.2.1: these suites allow at most 2^48 SRTP packets per master key.
MAX_LIFETIME = 2**48
# What we announce for our own keys: the usual value phones and PBXs send.
DEFAULT_LIFETIME = 2**31

# RFC 4568 §9.1 grammar: tag 1*9DIGIT, suite token, key-params, optional session-params.
_TAG = re.compile(r"^[0-9]{1,9}$")
_LIFETIME = re.compile(r"^(?:2\^([0-9]{1,2})|([0-9]+))$")
_SESSION_PARAMS_OK = re.compile(r"^(?:WSH=[0-9]+|KDR=0)$")


class SrtpError(Exception):
    """A packet failed SRTP/SRTCP protection or verification (authentication, replay...)."""


class CryptoParseError(ValueError):
    """An ``a=crypto`` value that does not follow RFC 4568 §9.1."""


class NoAcceptableCrypto(MediaError):
    """An SRTP offer without a single crypto line we support: the offer is refused with 488
    (RFC 4568 §7.1.2 / RFC 3264 §6: the answerer cannot accept the stream as offered)."""

    status_code = 488
    reason = "Not Acceptable Here"


def generate_key() -> bytes:
    """A fresh master key + salt (RFC 4568 §6.2; RFC 3711 §8.2 wants it random)."""
    return secrets.token_bytes(KEY_SALT_LENGTH)


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One ``a=crypto`` attribute: ``str()`` is its value, ``line`` the whole SDP line."""

    tag: int
    suite: str
    key: bytes  # master key || master salt
    lifetime: int | None = None
    mki: tuple[int, int] | None = None  # (value, length in octets)
    session_params: tuple[str, ...] = ()
    key_count: int = 1

    @classmethod
    def parse(cls, text: str) -> CryptoAttribute:
        """Parse ``"1 AES_CM_128_HMAC_SHA1_80 inline:KEY|2^31"`` (with or without the
        leading ``a=crypto:``). The key is checked for its length only for known suites."""
        value = text.strip()
        for prefix in ("a=crypto:", "crypto:"):
            if value.startswith(prefix):
                value = value[len(prefix) :]
        fields = value.split()
        if len(fields) < 3 or not _TAG.match(fields[0]):
            raise CryptoParseError(f"malformed crypto attribute {text!r}")
        tag, suite, key_params = int(fields[0]), fields[1], fields[2].split(";")
        key, lifetime, mki = _parse_key_param(key_params[0])
        if suite in _PROFILES and len(key) != KEY_SALT_LENGTH:
            raise CryptoParseError(f"{suite} needs a {KEY_SALT_LENGTH}-octet key and salt")
        for extra in key_params[1:]:
            _parse_key_param(extra)
        return cls(tag, suite, key, lifetime, mki, tuple(fields[3:]), len(key_params))

    def __str__(self) -> str:
        key_info = base64.b64encode(self.key).decode("ascii")
        if self.lifetime is not None:
            key_info += f"|{_format_lifetime(self.lifetime)}"
        if self.mki is not None:
            key_info += f"|{self.mki[0]}:{self.mki[1]}"
        return " ".join([str(self.tag), self.suite, f"inline:{key_info}", *self.session_params])

    @property
    def line(self) -> str:
        return f"a=crypto:{self}"

    @property
    def supported(self) -> bool:
        """Whether we can run this line as it stands (see the module docstring)."""
        return (
            self.suite in _PROFILES
            and self.mki is None
            and self.key_count == 1
            and (self.lifetime is None or self.lifetime <= MAX_LIFETIME)
            and all(_SESSION_PARAMS_OK.match(param) for param in self.session_params)
        )


def _parse_key_param(param: str) -> tuple[bytes, int | None, tuple[int, int] | None]:
    # RFC 4568 §9.1: "inline:" key-salt ["|" lifetime] ["|" mki-value ":" mki-length]
    method, sep, key_info = param.partition(":")
    if method != "inline" or not sep:
        raise CryptoParseError(f"unsupported key method in {param!r}")
    parts = key_info.split("|")
    try:
        key = base64.b64decode(parts[0], validate=True)
    except (binascii.Error, ValueError):
        raise CryptoParseError(f"key is not base64 in {param!r}") from None
    lifetime: int | None = None
    mki: tuple[int, int] | None = None
    for part in parts[1:]:
        if ":" in part:
            mki = _parse_mki(part)
        elif lifetime is None and mki is None:
            lifetime = _parse_lifetime(part)
        else:
            raise CryptoParseError(f"malformed key info in {param!r}")
    return key, lifetime, mki


def _parse_lifetime(text: str) -> int:
    match = _LIFETIME.match(text)
    if match is None:
        raise CryptoParseError(f"malformed key lifetime {text!r}")
    exponent, plain = match.groups()
    return 2 ** int(exponent) if exponent is not None else int(plain)


def _parse_mki(text: str) -> tuple[int, int]:
    value, _, length = text.partition(":")
    if not (value.isdigit() and length.isdigit()) or not 1 <= int(length) <= 128:
        raise CryptoParseError(f"malformed MKI {text!r}")
    return int(value), int(length)


def _format_lifetime(lifetime: int) -> str:
    exponent = lifetime.bit_length() - 1
    return f"2^{exponent}" if lifetime == 1 << exponent else str(lifetime)


@dataclass(frozen=True, slots=True)
class SrtpParams:
    """What an SRTP stream needs: the suite, our sending key and the peer's sending key."""

    suite: str
    local_key: bytes
    remote_key: bytes

    def __post_init__(self) -> None:
        if self.suite not in _PROFILES:
            raise ValueError(f"unsupported SRTP crypto suite {self.suite}")
        if len(self.local_key) != KEY_SALT_LENGTH or len(self.remote_key) != KEY_SALT_LENGTH:
            raise ValueError(f"SRTP keys are {KEY_SALT_LENGTH} octets (master key + salt)")

    def __repr__(self) -> str:  # never log key material
        return f"SrtpParams({self.suite})"


def crypto_offer(suites: Sequence[str] = SUPPORTED_SUITES) -> list[CryptoAttribute]:
    """Our offer's ``a=crypto`` attributes, one per suite in preference order (RFC 4568
    §7.1.1), tags 1, 2, ... One key serves all of them: only one line will be chosen."""
    key = generate_key()
    return [
        CryptoAttribute(tag, suite, key, DEFAULT_LIFETIME)
        for tag, suite in enumerate(suites, start=1)
    ]


def answer_crypto(
    offered: Iterable[str], suites: Sequence[str] = SUPPORTED_SUITES
) -> tuple[CryptoAttribute, SrtpParams]:
    """Pick the first offered line we support (the offerer lists them in its order of
    preference, RFC 4568 §5.1.1) among ``suites``, and make our answer: same tag, same suite,
    a fresh key of ours (§5.1.2). Malformed lines are passed over like unsupported ones.
    Returns the answer's attribute (``.line`` for the SDP) and the stream's ``SrtpParams``;
    raises ``NoAcceptableCrypto`` when nothing fits."""
    for text in offered:
        try:
            attribute = CryptoAttribute.parse(text)
        except CryptoParseError:
            continue
        if attribute.supported and attribute.suite in suites:
            answer = CryptoAttribute(
                attribute.tag, attribute.suite, generate_key(), DEFAULT_LIFETIME
            )
            return answer, SrtpParams(attribute.suite, answer.key, attribute.key)
    raise NoAcceptableCrypto("no acceptable a=crypto line in the offer")


def params_from_answer(offer: Sequence[CryptoAttribute], answer: str) -> SrtpParams:
    """The ``SrtpParams`` when we offered ``offer`` and the peer answered ``answer``: the
    answer must name one of our tags with the same suite (RFC 4568 §7.1.3)."""
    chosen = CryptoAttribute.parse(answer)
    for ours in offer:
        if ours.tag == chosen.tag and ours.suite == chosen.suite and chosen.supported:
            return SrtpParams(chosen.suite, ours.key, chosen.key)
    raise NoAcceptableCrypto(f"answer's crypto tag {chosen.tag} matches nothing we offered")


class SrtpContext:
    """Protects what we send with our key and verifies what we receive with the peer's.

    One libsrtp session per direction: ``SSRC_ANY_OUTBOUND`` / ``SSRC_ANY_INBOUND`` policies,
    so a peer that changes its SSRC (re-INVITE to another device) keeps working; libsrtp
    keeps the replay list per SSRC (RFC 3711 §3.3.2).
    """

    __slots__ = ("_inbound", "_outbound", "suite")

    def __init__(self, params: SrtpParams) -> None:
        self.suite = params.suite
        profile = _PROFILES[params.suite]
        self._outbound = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=params.local_key,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=profile,
            )
        )
        self._inbound = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=params.remote_key,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                srtp_profile=profile,
            )
        )

    def protect(self, rtp: bytes) -> bytes:
        try:
            return self._outbound.protect(rtp)
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTP protect failed: {exc}") from None

    def unprotect(self, srtp: bytes) -> bytes:
        try:
            return self._inbound.unprotect(srtp)
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTP packet rejected: {exc}") from None

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        try:
            return self._outbound.protect_rtcp(rtcp)
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTCP protect failed: {exc}") from None

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        try:
            return self._inbound.unprotect_rtcp(srtcp)
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTCP packet rejected: {exc}") from None
