"""RelaySession inactivity detection, on a fake clock, and the relay's periodic driver."""

from __future__ import annotations

import asyncio

import pytest

from centralita.media import MediaRelay, RtpPortPool

LOCALHOST = "127.0.0.1"


@pytest.fixture
async def relay(port_range, clock):
    low, high = port_range(4)
    media = MediaRelay(RtpPortPool(low, high, host=LOCALHOST), clock=clock, inactivity_timeout=60)
    yield media
    media.close()


async def test_reports_once_after_timeout_without_rtp(relay, clock):
    reported = []
    session = relay.create_session(on_inactive=reported.append)
    start = clock.now
    assert not session.check_inactivity(start + 59.9)
    assert session.check_inactivity(start + 60.0)
    assert reported == [session]
    assert not session.check_inactivity(start + 61.0)  # not again for the same silence
    assert reported == [session]


async def test_rtp_from_either_side_keeps_the_call_alive(relay, clock, open_phone, packets):
    reported = []
    session = relay.create_session(on_inactive=reported.append)
    caller, callee = await open_phone(), await open_phone()
    session.endpoint_a.set_remote(caller.address)
    session.endpoint_b.set_remote(callee.address)
    start = clock.now

    clock.now = start + 50
    callee.send(packets.rtp(1), LOCALHOST, session.endpoint_b.local_port)  # one-way from B
    await caller.receive()
    assert session.last_rtp_at() == start + 50
    assert not session.check_inactivity(start + 100)
    assert session.check_inactivity(start + 110)
    assert reported == [session]

    clock.now = start + 120
    caller.send(packets.rtp(2), LOCALHOST, session.endpoint_a.local_port)
    await callee.receive()
    assert not session.check_inactivity(start + 121)  # media came back: re-armed
    assert session.check_inactivity(start + 180)
    assert reported == [session, session]


async def test_rtcp_alone_does_not_count_as_media(relay, clock, open_phone, packets):
    session = relay.create_session()
    caller_rtcp, callee_rtcp = await open_phone(), await open_phone()
    session.endpoint_a.set_remote((LOCALHOST, 9), caller_rtcp.address)
    session.endpoint_b.set_remote((LOCALHOST, 9), callee_rtcp.address)
    clock.now += 59
    caller_rtcp.send(packets.rtcp_rr(), LOCALHOST, session.endpoint_a.local_rtcp_port)
    await callee_rtcp.receive()
    assert session.check_inactivity(clock.now + 1)


async def test_hold_suspends_the_check_and_resume_restarts_it(relay, clock):
    reported = []
    session = relay.create_session(on_inactive=reported.append)
    start = clock.now
    clock.now = start + 30
    session.set_hold(True)
    assert session.on_hold
    assert not session.check_inactivity(start + 1000)
    clock.now = start + 1000
    session.set_hold(False)
    assert not session.check_inactivity(start + 1059)
    assert session.check_inactivity(start + 1060)
    assert reported == [session]


async def test_closed_session_never_reports(relay, clock):
    reported = []
    session = relay.create_session(on_inactive=reported.append)
    session.close()
    assert not session.check_inactivity(clock.now + 1000)
    assert reported == []


async def test_relay_check_collects_reports_and_survives_a_failing_callback(relay, clock):
    def broken(session):
        raise RuntimeError("callback bug")

    quiet = relay.create_session()
    failing = relay.create_session(on_inactive=broken)
    reported = relay.check_inactivity(clock.now + 60)
    assert reported == [quiet]
    assert failing.check_inactivity(clock.now + 61) is False  # it did report (once) before


async def test_relay_runs_the_check_periodically(port_range):
    low, high = port_range(2)
    relay = MediaRelay(
        RtpPortPool(low, high, host=LOCALHOST), inactivity_timeout=0.0, check_interval=0.001
    )
    fired = asyncio.Event()
    session = relay.create_session(on_inactive=lambda s: fired.set())
    relay.start()
    try:
        await asyncio.wait_for(fired.wait(), 5)
    finally:
        relay.close()
    assert session.closed
