"""Listen addresses as an administrator writes them: ``udp:127.0.0.1:5080``, ``tcp:[::1]:5080``,
``[::]:5060`` (both UDP and TCP), ``localhost:5060``."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

SUPPORTED_TRANSPORTS = ("udp", "tcp")
DEFAULT_SIP_PORT = 5060  # RFC 3261 §19.1.2

# RFC 1123 §2.1 host names: dot-separated labels of letters, digits and inner hyphens.
_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")
# Transports SIP defines (RFC 3261 §18, RFC 7118) that we recognise but do not serve yet.
_KNOWN_TRANSPORTS = frozenset({"udp", "tcp", "tls", "sctp", "ws", "wss"})


@dataclass(frozen=True, slots=True)
class ListenSpec:
    """One socket to listen on. ``host`` is an IP literal (no brackets) or a host name that is
    resolved when the transports start; port 0 lets the OS choose."""

    transport: str
    host: str
    port: int
    reuse_port: bool = False

    @classmethod
    def parse(cls, text: str) -> list[ListenSpec]:
        """Parse ``[TRANSPORT:]HOST[:PORT]``; without a transport, one spec per supported
        transport. Raises ``ValueError`` naming the offending part."""
        source = text.strip()
        if not source:
            raise ValueError("empty listen address")
        transports, rest = _split_transport(source, text)
        host, port = _split_host_port(rest, text)
        return [cls(transport, host, port) for transport in transports]

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


def _split_transport(source: str, text: str) -> tuple[tuple[str, ...], str]:
    prefix, colon, rest = source.partition(":")
    name = prefix.lower()
    if not colon or name not in _KNOWN_TRANSPORTS:
        return SUPPORTED_TRANSPORTS, source
    if name not in SUPPORTED_TRANSPORTS:
        raise ValueError(
            f"unsupported transport {prefix!r} in listen address {text!r}"
            f" (expected one of {', '.join(SUPPORTED_TRANSPORTS)})"
        )
    if not rest:
        raise ValueError(f"missing host after {prefix!r} in listen address {text!r}")
    return (name,), rest


def _split_host_port(rest: str, text: str) -> tuple[str, int]:
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ValueError(f"unterminated '[' in listen address {text!r}")
        host, tail = rest[1:end], rest[end + 1 :]
        _check_ipv6(host, text)
        if tail and not tail.startswith(":"):
            raise ValueError(f"unexpected {tail!r} after ']' in listen address {text!r}")
        return host, _parse_port(tail[1:] if tail else None, text)
    if rest.count(":") > 1:
        raise ValueError(
            f"IPv6 address must be in brackets ('[::1]:5060') in listen address {text!r}"
        )
    host, _, port_text = rest.partition(":")
    _check_host(host, text)
    return host, _parse_port(port_text if ":" in rest else None, text)


def _check_ipv6(host: str, text: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"invalid IPv6 address {host!r} in listen address {text!r}") from None


def _check_host(host: str, text: str) -> None:
    if not host:
        raise ValueError(f"missing host in listen address {text!r}")
    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    if host.replace(".", "").isdigit() or not _HOSTNAME.match(host):
        raise ValueError(f"invalid host {host!r} in listen address {text!r}")


def _parse_port(port_text: str | None, text: str) -> int:
    if port_text is None:
        return DEFAULT_SIP_PORT
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"invalid port {port_text!r} in listen address {text!r}")
    return int(port_text)
