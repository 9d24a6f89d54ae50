"""RtpPortPool: even RTP / odd RTCP pairs in range, skipping taken ports, exhaustion, release."""

from __future__ import annotations

import socket

import pytest

from centralita.media import NoMediaPorts, RtpPortPool, parse_port_range
from centralita.sip.errors import SipError


def test_pairs_are_even_rtp_with_rtcp_one_above_and_bound(port_range):
    low, high = port_range(3)
    pool = RtpPortPool(low, high, host="127.0.0.1")
    pair = pool.allocate()
    try:
        assert pair.port % 2 == 0 and low <= pair.port < high
        assert pair.rtcp_port == pair.port + 1
        assert pair.rtp.getsockname() == ("127.0.0.1", pair.port)
        assert pair.rtcp.getsockname() == ("127.0.0.1", pair.port + 1)
        assert pair.rtp.type == socket.SOCK_DGRAM and not pair.rtp.getblocking()
        assert pool.in_use == 1
    finally:
        pair.close()


def test_odd_low_bound_starts_at_next_even_port(port_range):
    low, high = port_range(2)
    pool = RtpPortPool(low + 1, high, host="127.0.0.1")
    assert pool.capacity == 1
    pair = pool.allocate()
    assert pair.port == low + 2
    pair.close()


def test_exhaustion_raises_503_and_release_makes_room(port_range):
    low, high = port_range(2)
    pool = RtpPortPool(low, high, host="127.0.0.1")
    first, second = pool.allocate(), pool.allocate()
    with pytest.raises(NoMediaPorts) as caught:
        pool.allocate()
    assert isinstance(caught.value, SipError)
    assert caught.value.status_code == 503
    assert caught.value.reason == "Service Unavailable"
    assert f"{low}-{high}" in str(caught.value)
    first.close()
    assert first.closed and pool.in_use == 1
    third = pool.allocate()
    assert third.port == first.port
    third.close()
    second.close()
    assert pool.in_use == 0


def test_close_is_idempotent_and_frees_the_socket(port_range):
    low, high = port_range(1)
    pool = RtpPortPool(low, high, host="127.0.0.1")
    pair = pool.allocate()
    pair.close()
    pair.close()
    assert pool.in_use == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", pair.port))  # the port is really free again


def test_allocation_is_round_robin(port_range):
    low, high = port_range(3)
    pool = RtpPortPool(low, high, host="127.0.0.1")
    ports = []
    for _ in range(4):
        pair = pool.allocate()
        ports.append(pair.port)
        pair.close()
    assert ports == [low, low + 2, low + 4, low]


@pytest.mark.parametrize("taken_offset", [0, 1])
def test_ports_held_by_someone_else_are_skipped(port_range, taken_offset):
    low, high = port_range(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", low + taken_offset))  # RTP or RTCP port of the first pair
        pool = RtpPortPool(low, high, host="127.0.0.1")
        pair = pool.allocate()
        assert pair.port == low + 2
        with pytest.raises(NoMediaPorts):
            pool.allocate()
        pair.close()
    assert pool.in_use == 0


def test_ipv6_bind_address(port_range):
    low, high = port_range(1, "::1")
    pool = RtpPortPool(low, high, host="::1")
    pair = pool.allocate()
    assert pair.rtp.family == socket.AF_INET6
    assert pair.rtp.getsockname()[:2] == ("::1", low)
    assert pair.rtcp.getsockname()[:2] == ("::1", low + 1)
    pair.close()


def test_allocate_on_another_host_shares_the_port_numbers(port_range):
    low, high = port_range(2)
    pool = RtpPortPool(low, high, host="127.0.0.1")
    v4 = pool.allocate()
    v6 = pool.allocate("::1")
    assert v6.rtp.family == socket.AF_INET6 and v6.port != v4.port
    with pytest.raises(NoMediaPorts):
        pool.allocate("::1")
    v4.close()
    v6.close()


@pytest.mark.parametrize(
    ("low", "high", "host"),
    [
        (0, 100, "0.0.0.0"),
        (200, 100, "0.0.0.0"),
        (100, 70000, "0.0.0.0"),
        (101, 102, "0.0.0.0"),
        (100, 101, "pbx.example"),
    ],
)
def test_bad_pool_arguments(low, high, host):
    with pytest.raises(ValueError):
        RtpPortPool(low, high, host=host)


def test_parse_port_range():
    assert parse_port_range("10000-20000") == (10000, 20000)
    with pytest.raises(ValueError):
        parse_port_range("10000")
    with pytest.raises(ValueError):
        parse_port_range("a-b")
