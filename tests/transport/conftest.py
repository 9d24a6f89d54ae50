"""Shared helpers of the transport tests: every async test runs on both event loops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from centralita.sip.address import Address
from centralita.transport import ListenSpec, SipTransports, TransportOptions

WAIT = 5.0  # seconds before an awaited event counts as missing


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def _sip_message(tag: str, body: bytes = b"", *, length_header: str = "Content-Length") -> bytes:
    head = (
        f"OPTIONS sip:{tag}@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK{tag}\r\n"
        f"Call-ID: {tag}\r\n"
        f"CSeq: 1 OPTIONS\r\n"
        f"{length_header}: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@pytest.fixture
def sip_message() -> Callable[..., bytes]:
    """``sip_message(tag, body=b"", length_header="Content-Length")``: a framed OPTIONS."""
    return _sip_message


class Recorder:
    """Collects what the transports hand up."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.errors: asyncio.Queue[tuple[Address, Exception]] = asyncio.Queue()
        self.explode_on: bytes | None = None  # a message containing this makes the handler raise

    def on_message(self, data: bytes, source: Address) -> None:
        if self.explode_on is not None and self.explode_on in data:
            raise RuntimeError("handler bug")
        self.messages.put_nowait((data, source))

    def on_error(self, dest: Address, exc: Exception) -> None:
        self.errors.put_nowait((dest, exc))

    async def message(self) -> tuple[bytes, Address]:
        return await asyncio.wait_for(self.messages.get(), WAIT)

    async def error(self) -> tuple[Address, Exception]:
        return await asyncio.wait_for(self.errors.get(), WAIT)


Starter = Callable[..., Awaitable[tuple[SipTransports, Recorder]]]


@pytest.fixture
async def start_transports() -> AsyncIterator[Starter]:
    """``await start(\"udp:127.0.0.1:0\", ..., options=...)`` -> (transports, recorder);
    everything started is closed at teardown."""
    started: list[SipTransports] = []

    async def start(
        *texts: str, options: TransportOptions | None = None
    ) -> tuple[SipTransports, Recorder]:
        transports = SipTransports(options)
        recorder = Recorder()
        specs = [spec for text in texts for spec in ListenSpec.parse(text)]
        await transports.start(specs, recorder.on_message, recorder.on_error)
        started.append(transports)
        return transports, recorder

    yield start
    for transports in started:
        await transports.close()
