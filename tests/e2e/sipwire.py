"""Raw SIP over loopback sockets: for probes and for bytes no well-behaved peer would send.

SIPp and baresip only speak well-formed SIP; the garbage tests and the readiness probe need to
put arbitrary bytes on the wire and read whatever comes back.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
from dataclasses import dataclass

_STATUS_LINE = re.compile(rb"^SIP/2\.0 (\d{3}) ")


@dataclass(frozen=True)
class Reply:
    raw: bytes

    @property
    def status(self) -> int:
        m = _STATUS_LINE.match(self.raw)
        if m is None:
            raise AssertionError(f"not a SIP response: {self.raw[:200]!r}")
        return int(m.group(1))

    def header(self, name: str) -> str | None:
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        for line in head.split("\r\n")[1:]:
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                return value.strip()
        return None


def request(
    method: str,
    uri: str,
    *,
    local_port: int,
    transport: str = "UDP",
    extra_headers: tuple[str, ...] = (),
    user: str = "probe",
    domain: str = "acme.test",
) -> bytes:
    """A well-formed request (RFC 3261 §8.1.1): the mandatory headers and nothing else."""
    tag = secrets.token_hex(4)
    branch = "z9hG4bK" + secrets.token_hex(8)  # RFC 3261 §8.1.1.7 magic cookie
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} 127.0.0.1:{local_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{domain}>;tag={tag}",
        f"To: <sip:{user}@{domain}>" if method == "REGISTER" else f"To: <{uri}>",
        f"Call-ID: {secrets.token_hex(12)}@127.0.0.1",
        f"CSeq: 1 {method}",
        f"Contact: <sip:{user}@127.0.0.1:{local_port}>",
        *extra_headers,
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


class UdpClient:
    """A UDP socket on loopback that sends requests built for its own port and reads replies."""

    def __init__(self, host: str, port: int) -> None:
        self.remote = (host, port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.local_port = int(self.sock.getsockname()[1])

    def __enter__(self) -> UdpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.remote)

    def receive(self, timeout: float) -> Reply | None:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        return Reply(data)

    def exchange(self, data: bytes, timeout: float) -> Reply | None:
        self.send(data)
        return self.receive(timeout)


def send_udp(host: str, port: int, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, (host, port))


def exchange_tcp(host: str, port: int, data: bytes, *, timeout: float) -> Reply | None:
    """Send bytes on a fresh TCP connection; the first complete response, or None when the
    server closed the connection or said nothing (RFC 3261 §18.3 framing by Content-Length)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            return _read_tcp_response(sock)
        except (TimeoutError, ConnectionError):
            return None


def send_tcp(host: str, port: int, data: bytes, *, timeout: float = 2.0) -> None:
    """Send bytes on a fresh TCP connection and close it without reading."""
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        contextlib.suppress(ConnectionError),
    ):
        sock.sendall(data)


def _read_tcp_response(sock: socket.socket) -> Reply | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65535)
        if not chunk:
            return None
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    length = Reply(head + b"\r\n\r\n").header("Content-Length") or "0"
    while len(body) < int(length):
        chunk = sock.recv(65535)
        if not chunk:
            break
        body += chunk
    return Reply(head + b"\r\n\r\n" + body)


def options(host: str, port: int, *, timeout: float, transport: str = "UDP") -> Reply | None:
    """Send OPTIONS (RFC 3261 §11) and return the answer, or None."""
    uri = f"sip:{host}:{port}"
    if transport == "TCP":
        data = request("OPTIONS", uri, local_port=9, transport="TCP")
        return exchange_tcp(host, port, data, timeout=timeout)
    with UdpClient(host, port) as client:
        return client.exchange(request("OPTIONS", uri, local_port=client.local_port), timeout)
