from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from centralita.sip.address import Address
from centralita.transport import SipTransports, TransportOptions
from centralita.transport import stun as stun_module

WAIT = 5.0
Starter = Callable[..., Awaitable[tuple[SipTransports, Any]]]  # conftest.start_transports
MessageFactory = Callable[..., bytes]  # conftest.sip_message


class UdpPeer(asyncio.DatagramProtocol):
    """A plain UDP socket standing for a phone."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.put_nowait((data, (str(addr[0]), int(addr[1]))))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, address: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (address.host, address.port))

    async def receive(self) -> tuple[bytes, tuple[str, int]]:
        return await asyncio.wait_for(self.received.get(), WAIT)


PeerFactory = Callable[..., Awaitable["UdpPeer"]]


@pytest.fixture
async def udp_peer() -> AsyncIterator[PeerFactory]:
    peers: list[UdpPeer] = []

    async def make(host: str = "127.0.0.1") -> UdpPeer:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=(host, 0))
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        assert peer.transport is not None
        peer.transport.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_round_trip(
    start_transports: Starter, udp_peer: PeerFactory, sip_message: MessageFactory, host: str
) -> None:
    transports, recorder = await start_transports(
        f"udp:[{host}]:0" if ":" in host else f"udp:{host}:0"
    )
    (server,) = transports.listen_addresses
    assert server.port != 0
    peer = await udp_peer(host)
    request = sip_message("round")
    peer.send(request, server)
    data, source = await recorder.message()
    assert data == request
    assert (source.transport, source.host, source.port) == ("udp", host, peer.port)
    assert source.connection is not None
    transports.send(b"SIP/2.0 200 OK\r\n\r\n", source)
    reply, sender = await peer.receive()
    assert reply == b"SIP/2.0 200 OK\r\n\r\n"
    assert sender == (host, server.port)


async def test_reply_leaves_from_the_socket_the_request_came_to(
    start_transports: Starter, udp_peer: PeerFactory, sip_message: MessageFactory
) -> None:
    # RFC 3581 §4: the response goes out from the address and port the request arrived on.
    transports, recorder = await start_transports("udp:127.0.0.1:0", "udp:127.0.0.1:0")
    first, second = transports.listen_addresses
    peer = await udp_peer()
    peer.send(sip_message("second"), second)
    _, source = await recorder.message()
    transports.send(b"reply", source)
    assert await peer.receive() == (b"reply", ("127.0.0.1", second.port))
    assert transports.local_address_for(source) == ("127.0.0.1", second.port)
    # Without a connection id the first endpoint of the family is used.
    transports.send(b"new", Address("udp", "127.0.0.1", peer.port))
    assert await peer.receive() == (b"new", ("127.0.0.1", first.port))


async def test_empty_oversize_and_keepalive_datagrams_are_not_delivered(
    start_transports: Starter, sip_message: MessageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="centralita.transport")
    options = TransportOptions(max_datagram_size=200)
    transports, recorder = await start_transports("udp:127.0.0.1:0", options=options)
    (server,) = transports.listen_addresses
    last = sip_message("fits")
    assert len(last) <= 200
    # A plain socket: asyncio's sendto() silently skips empty datagrams.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.setblocking(False)
        for datagram in (b"", b"x" * 201, b"\r\n", b"\r\n\r\n", last):
            phone.sendto(datagram, (server.host, server.port))
        assert (await recorder.message())[0] == last
        with pytest.raises(BlockingIOError):
            phone.recv(100)  # keep-alives get no answer over UDP
    assert recorder.messages.empty()
    stats = transports.stats
    assert (stats.datagrams_dropped_empty, stats.datagrams_dropped_oversize) == (1, 1)
    assert stats.udp_keepalives == 2
    assert "dropped a 201-byte datagram" in caplog.text
    assert "dropped an empty datagram" in caplog.text


async def test_stun_keepalive_is_answered_on_the_sip_port(
    start_transports: Starter, udp_peer: PeerFactory
) -> None:
    transports, recorder = await start_transports("udp:127.0.0.1:0")
    (server,) = transports.listen_addresses
    peer = await udp_peer()
    request = struct.pack("!HHI12s", 0x0001, 0, stun_module.MAGIC_COOKIE, b"k" * 12)
    peer.send(request, server)
    response, sender = await peer.receive()
    assert sender == ("127.0.0.1", server.port)
    assert response == stun_module.binding_response(request, "127.0.0.1", peer.port)
    assert recorder.messages.empty()
    assert transports.stats.stun_requests == 1


async def test_handler_exception_does_not_kill_the_endpoint(
    start_transports: Starter,
    udp_peer: PeerFactory,
    sip_message: MessageFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    transports, recorder = await start_transports("udp:127.0.0.1:0")
    (server,) = transports.listen_addresses
    recorder.explode_on = b"boom"
    peer = await udp_peer()
    peer.send(sip_message("boom"), server)
    peer.send(sip_message("after"), server)
    assert (await recorder.message())[0] == sip_message("after")
    assert transports.stats.handler_errors == 1
    assert "handler bug" in caplog.text


async def test_send_without_a_matching_family_reports_an_error(start_transports: Starter) -> None:
    transports, recorder = await start_transports("udp:127.0.0.1:0")
    dest = Address("udp", "::1", 5060)
    transports.send(b"x", dest)
    failed, exc = await recorder.error()
    assert failed == dest
    assert "IPv6" in str(exc)


async def test_wildcard_bind_advertises_a_routable_address(start_transports: Starter) -> None:
    transports, _ = await start_transports("udp:0.0.0.0:0")
    (server,) = transports.listen_addresses
    assert server.host == "0.0.0.0"
    assert transports.local_address("udp", socket.AF_INET, "127.0.0.1") == (
        "127.0.0.1",
        server.port,
    )
    host, port = transports.local_address("udp", socket.AF_INET)
    assert port == server.port
    assert host != "0.0.0.0"
    with pytest.raises(ConnectionError, match="IPv6"):
        transports.local_address("udp", socket.AF_INET6)
