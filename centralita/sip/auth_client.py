"""HTTP Digest authentication for SIP, the client side: answering a challenge.

Used for our outbound registrations and calls to trunks, and by tests playing a phone. A 401
or 407 carries one WWW-Authenticate / Proxy-Authenticate value per realm and algorithm (RFC
3261 §22.2, §22.3; RFC 8760 §2.4); ``parse_challenge`` reads one and ``build_authorization``
writes the Authorization / Proxy-Authorization value that answers it (RFC 3261 §22.4, RFC 7616
§3.4). The hashing and the auth-param grammar are the server's, from ``centralita.sip.auth``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from centralita.sip.auth import (
    MalformedCredentials,
    canonical_algorithm,
    digest_params,
    digest_response,
    escape_quoted,
    ha1,
)

__all__ = ["DigestChallenge", "build_authorization", "parse_challenge"]


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """A parsed Digest WWW-Authenticate / Proxy-Authenticate value (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop_options: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> DigestChallenge:
    """Parse a Digest challenge value; ``MalformedCredentials`` (400) otherwise."""
    params = digest_params(value, "a Digest challenge")
    if "realm" not in params or "nonce" not in params:
        raise MalformedCredentials("Digest challenge lacks realm or nonce")
    qops = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    algorithm = params.get("algorithm", "MD5")
    return DigestChallenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=canonical_algorithm(algorithm) or algorithm,
        qop_options=qops,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def build_authorization(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """An Authorization value answering ``challenge`` (qop=auth preferred when offered)."""
    if canonical_algorithm(challenge.algorithm) is None:
        raise ValueError(f"unsupported digest algorithm {challenge.algorithm!r}")
    qop = next((q for q in ("auth", "auth-int") if q in challenge.qop_options), None)
    nc_text = f"{nc:08x}" if qop else None
    cnonce = (cnonce or secrets.token_hex(8)) if qop else None
    secret = ha1(username, challenge.realm, password, challenge.algorithm)
    response = digest_response(
        secret,
        algorithm=challenge.algorithm,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )
    parts = [
        f'username="{escape_quoted(username)}"',
        f'realm="{escape_quoted(challenge.realm)}"',
        f'nonce="{escape_quoted(challenge.nonce)}"',
        f'uri="{escape_quoted(uri)}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f'cnonce="{escape_quoted(cnonce or "")}"']
    if challenge.opaque is not None:
        parts.append(f'opaque="{escape_quoted(challenge.opaque)}"')
    return "Digest " + ", ".join(parts)
