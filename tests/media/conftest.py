"""Shared test doubles for the media tests: a fake clock, UDP phones, a free port range."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

RECEIVE_TIMEOUT = 5.0


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[Any, ...]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.queue.put_nowait((data, addr))


class Phone:
    """A UDP socket standing in for a phone's RTP (or RTCP) port."""

    def __init__(self, transport: asyncio.DatagramTransport, inbox: _Inbox) -> None:
        self.transport = transport
        self.inbox = inbox
        sockname = transport.get_extra_info("sockname")
        self.host: str = sockname[0]
        self.port: int = sockname[1]

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> Phone:
        loop = asyncio.get_running_loop()
        transport, inbox = await loop.create_datagram_endpoint(_Inbox, local_addr=(host, 0))
        return cls(transport, inbox)

    def send(self, data: bytes, host: str, port: int) -> None:
        self.transport.sendto(data, (host, port))

    async def receive(self) -> tuple[bytes, tuple[Any, ...]]:
        return await asyncio.wait_for(self.inbox.queue.get(), RECEIVE_TIMEOUT)

    def pending(self) -> int:
        return self.inbox.queue.qsize()

    def close(self) -> None:
        self.transport.close()


class Packets:
    @staticmethod
    def rtp(seq: int, payload: bytes = b"\xff" * 160, ssrc: int = 0x1234) -> bytes:
        """A version-2 PCMU packet (RFC 3550 §5.1, payload type 0)."""
        header = bytes([0x80, 0x00]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big")
        return header + ssrc.to_bytes(4, "big") + payload

    @staticmethod
    def rtcp_rr(ssrc: int = 0x1234) -> bytes:
        """An empty RR (RFC 3550 §6.4.2): V=2, RC=0, PT=201, length 1 (two 32-bit words)."""
        return bytes([0x80, 201, 0x00, 0x01]) + ssrc.to_bytes(4, "big")


def _range_is_free(low: int, high: int, host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    held = []
    try:
        for port in range(low, high + 1):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            held.append(sock)
            sock.bind((host, port))
    except OSError:
        return False
    finally:
        for sock in held:
            sock.close()
    return True


def free_port_range(pairs: int, host: str = "127.0.0.1") -> tuple[int, int]:
    """An even-aligned range of ``pairs`` RTP/RTCP pairs that nobody holds right now, below
    the OS's ephemeral range (so the phones' OS-chosen ports never land in it)."""
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(10000, 24000, 2)
        high = low + 2 * pairs - 1
        if _range_is_free(low, high, host):
            return low, high
    raise RuntimeError("no free port range found")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
async def open_phone() -> AsyncIterator[Callable[..., Awaitable[Phone]]]:
    """``await open_phone(host="127.0.0.1")``: a phone socket, closed after the test."""
    opened: list[Phone] = []

    async def factory(host: str = "127.0.0.1") -> Phone:
        phone = await Phone.open(host)
        opened.append(phone)
        return phone

    yield factory
    for phone in opened:
        phone.close()


@pytest.fixture
def port_range() -> Callable[..., tuple[int, int]]:
    """``port_range(pairs, host="127.0.0.1")``: a currently free even-aligned port range."""
    return free_port_range


@pytest.fixture
def packets() -> type[Packets]:
    return Packets
