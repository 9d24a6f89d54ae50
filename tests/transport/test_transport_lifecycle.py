from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from centralita.sip.address import Address
from centralita.transport import (
    ListenSpec,
    SipTransports,
    event_loop_factory,
    install_event_loop_policy,
)
from centralita.transport.loop import DISABLE_ENV

Starter = Callable[..., Awaitable[tuple[SipTransports, Any]]]  # conftest.start_transports
MessageFactory = Callable[..., bytes]  # conftest.sip_message


async def test_hostname_binds_what_it_resolves_to(start_transports: Starter) -> None:
    transports, _ = await start_transports("udp:localhost:0")
    hosts = {a.host for a in transports.listen_addresses}
    assert "127.0.0.1" in hosts
    assert hosts <= {"127.0.0.1", "::1"}


async def test_failed_start_closes_what_it_bound() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        transports = SipTransports()
        specs = ListenSpec.parse("tcp:127.0.0.1:0") + ListenSpec.parse(f"udp:127.0.0.1:{port}")
        with pytest.raises(OSError):
            await transports.start(specs, lambda data, source: None)
    assert transports.listen_addresses == []
    await transports.close()  # idempotent after a failed start


async def test_ipv4_and_ipv6_wildcards_bind_side_by_side(start_transports: Starter) -> None:
    transports, recorder = await start_transports("udp:0.0.0.0:0")
    (v4,) = transports.listen_addresses
    # IPv6 sockets are IPv6-only, so the same port number is free on [::].
    other = SipTransports()
    await other.start(ListenSpec.parse(f"udp:[::]:{v4.port}"), recorder.on_message)
    try:
        assert other.listen_addresses == [Address("udp", "::", v4.port)]
        assert other.local_address("udp", socket.AF_INET6, "::1") == ("::1", v4.port)
    finally:
        await other.close()


async def test_local_address_for_tcp_names_the_listening_port(start_transports: Starter) -> None:
    transports, _ = await start_transports("127.0.0.1:0", "[::1]:0")
    tcp6 = next(a for a in transports.listen_addresses if a.transport == "tcp" and a.host == "::1")
    dest = Address("tcp", "::1", 5060, connection=12345)
    assert transports.local_address_for(dest) == ("::1", tcp6.port)


async def test_unknown_transport_is_reported(start_transports: Starter) -> None:
    transports, recorder = await start_transports("udp:127.0.0.1:0")
    dest = Address("tls", "127.0.0.1", 5061)
    transports.send(b"x", dest)
    failed, exc = await recorder.error()
    assert failed == dest
    assert "no tls transport" in str(exc)


def test_event_loop_factory_prefers_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    assert event_loop_factory() is uvloop.new_event_loop
    assert event_loop_factory(use_uvloop=False) is asyncio.new_event_loop
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert event_loop_factory() is asyncio.new_event_loop


def test_install_event_loop_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    try:
        assert install_event_loop_policy() is True
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
        assert install_event_loop_policy(use_uvloop=False) is False
        assert not isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(None)
