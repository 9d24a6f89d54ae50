"""MediaRelay / RelaySession over real UDP sockets on loopback.

Every wait is on a packet arriving. To show that a packet was *not* forwarded, a marker packet
is sent after it on the same path: once the marker is out, the earlier packet has been handled.
"""

from __future__ import annotations

import socket

import pytest

from centralita.media import InvalidMediaAddress, MediaRelay, NoMediaPorts, RtpPortPool

LOCALHOST = "127.0.0.1"


@pytest.fixture
async def relay(port_range, clock):
    low, high = port_range(8)
    media = MediaRelay(RtpPortPool(low, high, host=LOCALHOST), clock=clock)
    yield media
    media.close()


async def call(relay, open_phone, host=LOCALHOST):
    """A session with a phone on each leg whose SDP addresses are already known."""
    session = relay.create_session()
    caller, callee = await open_phone(host), await open_phone(host)
    session.endpoint_a.set_remote(caller.address)
    session.endpoint_b.set_remote(callee.address)
    return session, caller, callee


async def test_rtp_relayed_both_ways(relay, open_phone, packets, clock):
    session, caller, callee = await call(relay, open_phone)
    a, b = session.endpoint_a, session.endpoint_b
    caller.send(packets.rtp(1), LOCALHOST, a.local_port)
    data, source = await callee.receive()
    assert data == packets.rtp(1)
    assert source == (LOCALHOST, b.local_port)  # leaves from the callee-facing port

    clock.now += 0.02
    callee.send(packets.rtp(7, ssrc=9), LOCALHOST, b.local_port)
    data, source = await caller.receive()
    assert data == packets.rtp(7, ssrc=9)
    assert source == (LOCALHOST, a.local_port)

    assert (a.rtp_stats.packets, a.rtp_stats.bytes, a.rtp_stats.last_packet_at) == (1, 172, 100.0)
    assert (b.rtp_stats.packets, b.rtp_stats.last_packet_at) == (1, 100.02)
    assert a.rtp_stats.forwarded == 1 and a.rtp_stats.dropped == 0
    assert a.rtcp_stats.packets == 0


async def test_rtcp_relayed_both_ways_one_port_up(relay, open_phone, packets):
    session = relay.create_session()
    a, b = session.endpoint_a, session.endpoint_b
    caller_rtp, caller_rtcp = await open_phone(), await open_phone()
    callee_rtp, callee_rtcp = await open_phone(), await open_phone()
    a.set_remote(caller_rtp.address, caller_rtcp.address)  # a=rtcp (RFC 3605)
    b.set_remote(callee_rtp.address, callee_rtcp.address)
    assert a.local_rtcp_port == a.local_port + 1

    caller_rtcp.send(packets.rtcp_rr(1), LOCALHOST, a.local_rtcp_port)
    data, source = await callee_rtcp.receive()
    assert data == packets.rtcp_rr(1) and source == (LOCALHOST, b.local_rtcp_port)
    callee_rtcp.send(packets.rtcp_rr(2), LOCALHOST, b.local_rtcp_port)
    data, source = await caller_rtcp.receive()
    assert data == packets.rtcp_rr(2) and source == (LOCALHOST, a.local_rtcp_port)

    assert a.rtcp_stats.packets == 1 and b.rtcp_stats.packets == 1
    assert a.rtp_stats.packets == 0 and callee_rtp.pending() == 0 and caller_rtp.pending() == 0


async def test_rtcp_remote_defaults_to_rtp_port_plus_one_per_rfc3550(relay):
    session = relay.create_session()
    session.endpoint_a.set_remote(("192.0.2.1", 40000))
    assert session.endpoint_a.remote_rtcp == ("192.0.2.1", 40001)


async def test_rtcp_latch_waits_longer_than_rtp(relay, open_phone, packets, clock):
    session = relay.create_session()
    caller_rtcp, callee_rtcp, other = await open_phone(), await open_phone(), await open_phone()
    session.endpoint_a.set_remote((LOCALHOST, 9), caller_rtcp.address)
    session.endpoint_b.set_remote((LOCALHOST, 9), callee_rtcp.address)
    rtcp_port = session.endpoint_a.local_rtcp_port

    caller_rtcp.send(packets.rtcp_rr(1), LOCALHOST, rtcp_port)
    await callee_rtcp.receive()
    clock.now += 5.0  # one RTCP interval (RFC 3550 §6.2): silence this long is normal for RTCP
    other.send(packets.rtcp_rr(666), LOCALHOST, rtcp_port)
    caller_rtcp.send(packets.rtcp_rr(2), LOCALHOST, rtcp_port)
    data, _ = await callee_rtcp.receive()
    assert data == packets.rtcp_rr(2)
    assert session.endpoint_a.rtcp_stats.dropped_source == 1
    clock.now += 10.0
    other.send(packets.rtcp_rr(3), LOCALHOST, rtcp_port)
    data, _ = await callee_rtcp.receive()
    assert data == packets.rtcp_rr(3)
    assert session.endpoint_a.latched_rtcp == other.address


async def test_latches_to_the_real_source_behind_nat(relay, open_phone, packets):
    session = relay.create_session()
    caller, callee = await open_phone(), await open_phone()
    sdp_said = await open_phone()  # the port the SDP announced; the phone sends from another
    session.endpoint_a.set_remote(sdp_said.address)
    session.endpoint_b.set_remote(callee.address)

    caller.send(packets.rtp(1), LOCALHOST, session.endpoint_a.local_port)
    await callee.receive()
    assert session.endpoint_a.latched_rtp == caller.address
    assert session.endpoint_a.remote_rtp == caller.address

    callee.send(packets.rtp(2), LOCALHOST, session.endpoint_b.local_port)
    data, _ = await caller.receive()
    assert data == packets.rtp(2)
    assert sdp_said.pending() == 0


async def test_no_hijack_while_the_first_source_is_active(relay, open_phone, packets, clock):
    session, caller, callee = await call(relay, open_phone)
    attacker = await open_phone()
    a_port = session.endpoint_a.local_port

    caller.send(packets.rtp(1), LOCALHOST, a_port)
    await callee.receive()
    clock.now += 1.0  # still well inside the 1.5 s window
    attacker.send(packets.rtp(666, ssrc=666), LOCALHOST, a_port)
    caller.send(packets.rtp(2), LOCALHOST, a_port)
    data, _ = await callee.receive()
    assert data == packets.rtp(2)  # the attacker's packet was not forwarded
    assert session.endpoint_a.rtp_stats.dropped_source == 1

    callee.send(packets.rtp(3), LOCALHOST, session.endpoint_b.local_port)
    await caller.receive()
    assert attacker.pending() == 0
    assert session.endpoint_a.latched_rtp == caller.address


async def test_relatch_after_the_source_goes_silent(relay, open_phone, packets, clock):
    session, caller, callee = await call(relay, open_phone)
    roamed = await open_phone()  # e.g. the NAT binding changed
    a_port = session.endpoint_a.local_port

    caller.send(packets.rtp(1), LOCALHOST, a_port)
    await callee.receive()
    clock.now += 2.0
    roamed.send(packets.rtp(2), LOCALHOST, a_port)
    data, _ = await callee.receive()
    assert data == packets.rtp(2)
    assert session.endpoint_a.latched_rtp == roamed.address

    callee.send(packets.rtp(3), LOCALHOST, session.endpoint_b.local_port)
    data, _ = await roamed.receive()
    assert data == packets.rtp(3)
    assert caller.pending() == 0


async def test_non_rtp_is_dropped_and_counted(relay, open_phone, packets):
    session, caller, callee = await call(relay, open_phone)
    stranger = await open_phone()
    a_port = session.endpoint_a.local_port

    stranger.send(b"\x00\x01\x00\x00" + b"\x21\x12\xa4\x42" + bytes(12), LOCALHOST, a_port)  # STUN
    caller.send(b"\x80\x00\x00", LOCALHOST, a_port)  # too short for an RTP header
    caller.send(b"\x40" + bytes(171), LOCALHOST, a_port)  # version 1
    caller.send(packets.rtp(1), LOCALHOST, a_port)
    data, _ = await callee.receive()
    assert data == packets.rtp(1) and callee.pending() == 0
    stats = session.endpoint_a.rtp_stats
    assert stats.dropped_invalid == 3 and stats.packets == 1
    assert session.endpoint_a.latched_rtp == caller.address  # junk never latches


async def test_reinvite_repoints_without_changing_our_ports(relay, open_phone, packets, clock):
    session, caller, callee = await call(relay, open_phone)
    a, b = session.endpoint_a, session.endpoint_b
    ports_before = (a.local_port, b.local_port)
    caller.send(packets.rtp(1), LOCALHOST, a.local_port)
    await callee.receive()

    moved = await open_phone()  # the caller's re-INVITE offers a new media address
    clock.now += 0.02
    a.set_remote(moved.address)
    assert (a.local_port, b.local_port) == ports_before
    callee.send(packets.rtp(2), LOCALHOST, b.local_port)
    data, _ = await moved.receive()
    assert data == packets.rtp(2) and caller.pending() == 0

    moved.send(packets.rtp(3), LOCALHOST, a.local_port)  # latches at once: it is the SDP address
    data, _ = await callee.receive()
    assert data == packets.rtp(3)
    caller.send(packets.rtp(4), LOCALHOST, a.local_port)  # the old source is refused
    moved.send(packets.rtp(5), LOCALHOST, a.local_port)
    data, _ = await callee.receive()
    assert data == packets.rtp(5)
    assert a.rtp_stats.dropped_source == 1


async def test_same_sdp_on_reinvite_keeps_the_nat_latch(relay, open_phone, packets):
    session = relay.create_session()
    caller, callee = await open_phone(), await open_phone()
    session.endpoint_a.set_remote(("10.0.0.7", 4000))
    session.endpoint_b.set_remote(callee.address)
    caller.send(packets.rtp(1), LOCALHOST, session.endpoint_a.local_port)
    await callee.receive()
    session.endpoint_a.set_remote(("10.0.0.7", 4000))  # resume from hold, same SDP
    assert session.endpoint_a.remote_rtp == caller.address


async def test_port_zero_or_unspecified_host_stops_sending(relay, open_phone, packets):
    session, caller, callee = await call(relay, open_phone)
    session.endpoint_b.set_remote(("0.0.0.0", 5004))  # RFC 2543-style hold
    assert session.endpoint_b.remote_rtp is None
    caller.send(packets.rtp(1), LOCALHOST, session.endpoint_a.local_port)
    callee.send(packets.rtp(2), LOCALHOST, session.endpoint_b.local_port)
    data, _ = await caller.receive()  # the held side may still send
    assert data == packets.rtp(2)
    assert session.endpoint_a.rtp_stats.dropped_unrouted == 1 and callee.pending() == 0
    session.endpoint_b.set_remote((LOCALHOST, 0))
    assert session.endpoint_b.remote_rtp is None and session.endpoint_b.remote_rtcp is None


async def test_bad_media_address_is_488(relay):
    session = relay.create_session()
    with pytest.raises(InvalidMediaAddress) as caught:
        session.endpoint_a.set_remote(("phone.example", 4000))
    assert caught.value.status_code == 488
    with pytest.raises(InvalidMediaAddress):
        session.endpoint_a.set_remote(("2001:db8::1", 4000))  # IPv4 socket
    with pytest.raises(InvalidMediaAddress):
        session.endpoint_a.set_remote((LOCALHOST, 70000))
    session.endpoint_a.set_remote(("::ffff:192.0.2.1", 4000))  # v4-mapped is fine
    assert session.endpoint_a.remote_rtp == ("192.0.2.1", 4000)


async def test_close_releases_ports_and_exhaustion_is_503(port_range, clock):
    low, high = port_range(3)
    pool = RtpPortPool(low, high, host=LOCALHOST)
    relay = MediaRelay(pool, clock=clock)
    session = relay.create_session()
    assert pool.in_use == 2 and relay.sessions == {session}
    with pytest.raises(NoMediaPorts):
        relay.create_session()
    assert pool.in_use == 2  # the half-allocated pair went back
    session.close()
    session.close()
    assert pool.in_use == 0 and relay.sessions == frozenset()
    assert session.endpoint_a.closed and session.endpoint_b.closed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOCALHOST, session.endpoint_a.local_port))
    relay.create_session()
    relay.close()
    assert pool.in_use == 0


async def test_ipv6_relay(port_range, open_phone, packets, clock):
    low, high = port_range(2, "::1")
    relay = MediaRelay(RtpPortPool(low, high, host="::1"), clock=clock)
    try:
        session, caller, callee = await call(relay, open_phone, host="::1")
        caller.send(packets.rtp(1), "::1", session.endpoint_a.local_port)
        data, source = await callee.receive()
        assert data == packets.rtp(1) and source[:2] == ("::1", session.endpoint_b.local_port)
        callee.send(packets.rtp(2), "::1", session.endpoint_b.local_port)
        data, _ = await caller.receive()
        assert data == packets.rtp(2)
    finally:
        relay.close()


async def test_dual_stack_socket_relays_to_ipv4_phones(port_range, open_phone, packets, clock):
    low, high = port_range(2, "::")
    relay = MediaRelay(RtpPortPool(low, high, host="::"), clock=clock)
    try:
        session, caller, callee = await call(relay, open_phone)
        assert session.endpoint_b.remote_rtp == (f"::ffff:{LOCALHOST}", callee.port)
        caller.send(packets.rtp(1), LOCALHOST, session.endpoint_a.local_port)
        data, _ = await callee.receive()
        assert data == packets.rtp(1)
        assert session.endpoint_a.latched_rtp[:2] == (f"::ffff:{LOCALHOST}", caller.port)
    finally:
        relay.close()
