"""Brute-force protection on a fake clock, alone and through the core."""

from __future__ import annotations

from pathlib import Path

from centralita.registrar.guard import AuthGuard
from tests.calls.pbxharness import Pbx, response_to


def test_ban_after_too_many_failures_within_the_window() -> None:
    guard = AuthGuard(max_failures=3, window=10.0, ban_seconds=60.0)
    assert not guard.failed("192.0.2.1", 0.0)
    assert not guard.failed("192.0.2.1", 1.0)
    assert guard.failed("192.0.2.1", 2.0)
    assert guard.banned("192.0.2.1", 2.0)
    assert not guard.banned("192.0.2.2", 2.0)  # only that address
    assert guard.banned("192.0.2.1", 61.9)
    assert not guard.banned("192.0.2.1", 62.1)  # the ban ends


def test_failures_spread_over_time_do_not_ban() -> None:
    guard = AuthGuard(max_failures=3, window=10.0, ban_seconds=60.0)
    for second in range(0, 100, 6):
        assert not guard.failed("192.0.2.1", float(second))
    assert not guard.banned("192.0.2.1", 100.0)


def test_tracking_is_bounded() -> None:
    guard = AuthGuard(max_failures=3, window=10.0, max_tracked=100)
    for n in range(1000):
        guard.failed(f"10.0.{n // 256}.{n % 256}", float(n))
    assert len(guard._records) <= 100


def test_core_stops_answering_a_password_guesser(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path)
    cracker = pbx.phone("101", 5009)
    cracker.password = "guess"
    for _ in range(10):  # ten wrong guesses: each answered by a fresh challenge
        register = cracker.request(
            "REGISTER", "sip:acme.test", to="sip:101@acme.test", extra=("Expires: 60",)
        )
        assert response_to(pbx.send_authenticated(cracker, register), cracker, 401)
    register = cracker.request("REGISTER", "sip:acme.test", to="sip:101@acme.test")
    assert pbx.send(cracker, register) == []  # banned: no answer at all
    options = cracker.request("OPTIONS", "sip:acme.test")
    assert pbx.send(cracker, options) == []
    honest = pbx.phone("102", 5010)  # another address is not affected
    honest.address = honest.address.__class__("udp", "192.0.2.77", 5010)
    assert response_to(pbx.send(honest, honest.request("OPTIONS", "sip:acme.test")), honest, 200)
