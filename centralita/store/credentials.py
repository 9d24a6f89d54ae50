"""Digest credentials: the store keeps HA1 values, never passwords.

HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2), computed by
:func:`centralita.sip.auth.ha1`, with username = the extension number and realm = the
tenant's domain. The ``-sess`` algorithms start from the same HA1, so one stored value
serves both forms.
"""

from __future__ import annotations

from centralita.sip.auth import ha1

_COLUMNS = {"MD5": "ha1_md5", "SHA-256": "ha1_sha256"}


def base_algorithm(algorithm: str) -> str:
    """``"md5-sess"`` -> ``"MD5"``; ValueError for an algorithm the store keeps no HA1 for."""
    name = algorithm.upper().removesuffix("-SESS")
    if name not in _COLUMNS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return name


def ha1_column(algorithm: str) -> str:
    return _COLUMNS[base_algorithm(algorithm)]


def ha1_pair(username: str, realm: str, password: str) -> tuple[str, str]:
    """(MD5, SHA-256) HA1 values of one password."""
    return ha1(username, realm, password, "MD5"), ha1(username, realm, password, "SHA-256")
