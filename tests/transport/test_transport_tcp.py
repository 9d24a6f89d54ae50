from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from centralita.sip.address import Address
from centralita.transport import SipTransports, TransportOptions

WAIT = 5.0
Starter = Callable[..., Awaitable[tuple[SipTransports, Any]]]  # conftest.start_transports
MessageFactory = Callable[..., bytes]  # conftest.sip_message
Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[Address], Awaitable[Client]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    writers: list[asyncio.StreamWriter] = []

    async def open_client(address: Address) -> Client:
        reader, writer = await asyncio.open_connection(address.host, address.port)
        writers.append(writer)
        return reader, writer

    yield open_client
    for writer in writers:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def server_closed(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes the connection; returns what came before."""
    try:
        return await asyncio.wait_for(reader.read(), WAIT)
    except ConnectionResetError:
        return b""


def tcp_server(transports: SipTransports) -> Address:
    return next(a for a in transports.listen_addresses if a.transport == "tcp")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_response_goes_back_over_the_same_connection(
    start_transports: Starter, connect: Connect, sip_message: MessageFactory, host: str
) -> None:
    text = f"tcp:[{host}]:0" if ":" in host else f"tcp:{host}:0"
    transports, recorder = await start_transports(text)
    server = tcp_server(transports)
    reader, writer = await connect(server)
    writer.write(sip_message("req", b"hello"))
    data, source = await recorder.message()
    assert data == sip_message("req", b"hello")
    client_port = writer.get_extra_info("sockname")[1]
    assert (source.transport, source.host, source.port) == ("tcp", host, client_port)
    assert source.connection is not None and source.reliable
    response = sip_message("resp", b"bye")
    transports.send(response, source)
    assert await asyncio.wait_for(reader.readexactly(len(response)), WAIT) == response
    assert transports.connection_count == 1


async def test_split_and_coalesced_messages(
    start_transports: Starter, connect: Connect, sip_message: MessageFactory
) -> None:
    transports, recorder = await start_transports("tcp:127.0.0.1:0")
    _, writer = await connect(tcp_server(transports))
    first, second, third = (sip_message(t, t.encode() * 30) for t in ("one", "two", "six"))
    stream = first + second + third
    for start in range(0, len(stream), 7):  # 7-byte pieces: boundaries fall anywhere
        writer.write(stream[start : start + 7])
        await writer.drain()
    writer.write(first + b"\r\n" + second + third)  # several messages in one chunk
    received = [await recorder.message() for _ in range(6)]
    assert [data for data, _ in received] == [first, second, third, first, second, third]
    assert len({source for _, source in received}) == 1
    assert transports.connection_count == 1


async def test_keepalive_ping_gets_a_pong(
    start_transports: Starter, connect: Connect, sip_message: MessageFactory
) -> None:
    transports, recorder = await start_transports("tcp:127.0.0.1:0")
    reader, writer = await connect(tcp_server(transports))
    writer.write(b"\r\n\r\n")  # RFC 5626 §4.4.1 ping
    assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"\r\n"
    writer.write(b"\r\n" + sip_message("after"))  # a stray CRLF is ignored (RFC 3261 §7.5)
    data, source = await recorder.message()
    assert data == sip_message("after")
    transports.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", source)
    # Only the reply follows: the single CRLF was not answered.
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT) == (
        b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    )
    assert transports.stats.stream_pings == 1


async def test_outbound_connect_queues_then_reuses_the_connection(
    start_transports: Starter, sip_message: MessageFactory
) -> None:
    transports, recorder = await start_transports("tcp:127.0.0.1:0")
    accepted: asyncio.Queue[Client] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait((reader, writer))

    peer = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        port = peer.sockets[0].getsockname()[1]
        dest = Address("tcp", "127.0.0.1", port)
        first, second = sip_message("q1"), sip_message("q2", b"body")
        transports.send(first, dest)  # both queued while the connection opens
        transports.send(second, dest)
        reader, writer = await asyncio.wait_for(accepted.get(), WAIT)
        got = await asyncio.wait_for(reader.readexactly(len(first + second)), WAIT)
        assert got == first + second
        # The peer answers over the connection we opened; it arrives tagged with its id.
        writer.write(sip_message("answer"))
        data, source = await recorder.message()
        assert data == sip_message("answer")
        assert (source.host, source.port) == ("127.0.0.1", port)
        # A later send without a connection id finds the open connection to that peer.
        transports.send(sip_message("q3"), dest)
        got = await asyncio.wait_for(reader.readexactly(len(sip_message("q3"))), WAIT)
        assert got == sip_message("q3")
        assert accepted.empty()
        assert transports.connection_count == 1
        writer.close()
        await writer.wait_closed()
    finally:
        peer.close()
        await peer.wait_closed()


async def test_connect_failure_is_reported_for_each_queued_send(start_transports: Starter) -> None:
    transports, recorder = await start_transports("tcp:127.0.0.1:0")
    with socket.socket() as unused:  # bound but not listening: connecting is refused
        unused.bind(("127.0.0.1", 0))
        dest = Address("tcp", "127.0.0.1", unused.getsockname()[1])
        transports.send(b"a", dest)
        transports.send(b"b", Address("tcp", "127.0.0.1", dest.port, connection=999))
        first, second = await recorder.error(), await recorder.error()
    assert first[0] == dest
    assert second[0].connection == 999
    assert isinstance(first[1], ConnectionRefusedError)
    assert transports.stats.connect_failures == 1
    assert transports.connection_count == 0


async def test_garbage_closes_that_connection_only(
    start_transports: Starter,
    connect: Connect,
    sip_message: MessageFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="centralita.transport")
    options = TransportOptions(max_header_size=1024)
    transports, recorder = await start_transports("tcp:127.0.0.1:0", options=options)
    server = tcp_server(transports)
    good_reader, good = await connect(server)
    bad_reader, bad = await connect(server)
    huge_reader, huge = await connect(server)
    good.write(sip_message("before"))
    assert (await recorder.message())[0] == sip_message("before")
    bad.write(b"GARBAGE\r\n\r\n")
    huge.write(b"X" * 2048)  # no CRLFCRLF within the header limit
    assert await server_closed(bad_reader) == b""
    assert await server_closed(huge_reader) == b""
    good.write(sip_message("still served"))
    data, source = await recorder.message()
    assert data == sip_message("still served")
    transports.send(b"ok", source)
    assert await asyncio.wait_for(good_reader.readexactly(2), WAIT) == b"ok"
    assert transports.stats.framing_errors == 2
    assert "without Content-Length" in caplog.text
    assert recorder.messages.empty()


async def test_handler_exception_keeps_the_connection(
    start_transports: Starter, connect: Connect, sip_message: MessageFactory
) -> None:
    transports, recorder = await start_transports("tcp:127.0.0.1:0")
    _, writer = await connect(tcp_server(transports))
    recorder.explode_on = b"boom"
    writer.write(sip_message("boom") + sip_message("fine"))
    assert (await recorder.message())[0] == sip_message("fine")
    assert transports.stats.handler_errors == 1


async def test_idle_connection_is_closed(start_transports: Starter, connect: Connect) -> None:
    options = TransportOptions(idle_timeout=0.2)
    transports, _ = await start_transports("tcp:127.0.0.1:0", options=options)
    reader, _ = await connect(tcp_server(transports))
    assert await server_closed(reader) == b""
    assert transports.stats.connections_idle_closed == 1
    assert transports.connection_count == 0


async def test_connection_caps(
    start_transports: Starter, connect: Connect, sip_message: MessageFactory
) -> None:
    options = TransportOptions(max_connections_per_ip=1)
    transports, recorder = await start_transports("tcp:127.0.0.1:0", options=options)
    server = tcp_server(transports)
    _, first = await connect(server)
    first.write(sip_message("first"))
    await recorder.message()
    second_reader, _ = await connect(server)
    assert await server_closed(second_reader) == b""
    assert transports.stats.connections_rejected == 1
    assert transports.connection_count == 1


async def test_peer_that_does_not_read_is_dropped(
    start_transports: Starter, connect: Connect, sip_message: MessageFactory
) -> None:
    options = TransportOptions(
        write_buffer_high=16 * 1024, write_buffer_low=4 * 1024, max_write_buffer=64 * 1024
    )
    transports, recorder = await start_transports("tcp:127.0.0.1:0", options=options)
    _, writer = await connect(tcp_server(transports))
    writer.write(sip_message("never reads"))
    _, source = await recorder.message()
    chunk = b"x" * 32 * 1024
    for _ in range(2048):  # up to 64 MiB: far beyond what the kernel buffers on loopback
        transports.send(chunk, source)
        if not recorder.errors.empty():
            break
    dest, exc = await recorder.error()
    assert dest == source
    assert isinstance(exc, ConnectionError)
    assert "not reading" in str(exc)


async def test_reading_pauses_while_the_peer_does_not_read(
    start_transports: Starter, connect: Connect, sip_message: MessageFactory
) -> None:
    options = TransportOptions(
        write_buffer_high=64 * 1024, write_buffer_low=16 * 1024, max_write_buffer=64 << 20
    )
    transports, recorder = await start_transports("tcp:127.0.0.1:0", options=options)
    reader, writer = await connect(tcp_server(transports))
    writer.write(sip_message("first"))
    _, source = await recorder.message()
    total = 32 << 20  # more than loopback socket buffers hold, so our buffer fills up
    chunk = b"x" * (1 << 20)
    for _ in range(total // len(chunk)):
        transports.send(chunk, source)
    assert transports.stats.reads_paused == 1
    writer.write(sip_message("while paused"))
    # Once the peer reads what we wrote, reading resumes and its message comes through.
    assert len(await asyncio.wait_for(reader.readexactly(total), WAIT)) == total
    assert (await recorder.message())[0] == sip_message("while paused")
    assert recorder.errors.empty()


async def test_close_stops_listening(start_transports: Starter) -> None:
    transports, _ = await start_transports("127.0.0.1:0")
    server = tcp_server(transports)
    await transports.close()
    assert transports.listen_addresses == []
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(server.host, server.port)
