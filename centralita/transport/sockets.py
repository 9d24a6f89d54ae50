"""Creating listening sockets and finding local addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from centralita.transport.listen import ListenSpec

# Documentation prefixes (RFC 5737, RFC 3849): connecting a UDP socket towards them asks the
# kernel for the default source address without sending anything.
_PROBE_HOSTS = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}
_LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}


def family_of(host: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for an IP literal (an IPv6 zone suffix is allowed)."""
    version = ipaddress.ip_address(host.partition("%")[0]).version
    return socket.AF_INET if version == 4 else socket.AF_INET6


def is_unspecified(host: str) -> bool:
    return ipaddress.ip_address(host.partition("%")[0]).is_unspecified


async def resolve_listen_host(spec: ListenSpec) -> list[str]:
    """The IP literals ``spec.host`` names (a host name may give both families)."""
    try:
        family_of(spec.host)
        return [spec.host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    kind = socket.SOCK_DGRAM if spec.transport == "udp" else socket.SOCK_STREAM
    infos = await loop.getaddrinfo(spec.host, spec.port, type=kind, flags=socket.AI_PASSIVE)
    hosts: list[str] = []
    for _, _, _, _, sockaddr in infos:
        host = str(sockaddr[0])
        if host not in hosts:
            hosts.append(host)
    if not hosts:
        raise OSError(f"{spec.host!r} resolves to no address")
    return hosts


def bind_socket(transport: str, host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A non-blocking socket bound to ``host``:``port``; IPv6 sockets are IPv6-only so that
    ``[::]`` and ``0.0.0.0`` can be bound side by side and peers are never v4-mapped."""
    family = family_of(host)
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            # Restarting must not wait for old connections in TIME_WAIT. Not for UDP: there
            # SO_REUSEADDR would let a second process share (and steal from) the port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind(_sockaddr(host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def source_address_towards(dest_host: str | None, family: socket.AddressFamily) -> str:
    """The local address the kernel would send from towards ``dest_host`` (no packet is
    sent); the loopback address when there is no route."""
    target = dest_host if dest_host is not None else _PROBE_HOSTS[family]
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_sockaddr(target, 9))
        except OSError:
            return _LOOPBACK[family]
        return str(probe.getsockname()[0])


def _sockaddr(host: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    if family_of(host) == socket.AF_INET:
        return (host, port)
    address, _, zone = host.partition("%")
    scope = socket.if_nametoindex(zone) if zone and not zone.isdigit() else int(zone or 0)
    return (address, port, 0, scope)
