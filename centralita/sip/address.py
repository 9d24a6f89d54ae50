"""Where a message came from or goes to, as the sans-I/O layers see it."""

from __future__ import annotations

from dataclasses import dataclass

RELIABLE_TRANSPORTS = frozenset({"tcp", "tls", "ws", "wss"})


@dataclass(frozen=True, slots=True)
class Address:
    """A transport address. ``connection`` names a stream connection when there is one,
    so a response can leave over the connection its request came on (RFC 3261 §18.2.2)."""

    transport: str  # "udp" | "tcp" | "tls" | "ws" | "wss", lower case
    host: str  # IP literal without brackets
    port: int
    connection: int | None = None

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"
