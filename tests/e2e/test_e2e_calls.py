"""Calls through the PBX between SIPp extensions: RFC 3665 §3 flows, with the PBX as B2BUA."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e import flows
from tests.e2e.conftest import RING_TIMEOUT
from tests.e2e.pbx import Pbx
from tests.e2e.ports import HOST, free_port
from tests.e2e.rtp import RtpProbe

pytestmark = pytest.mark.e2e


def test_answered_call_carries_rtp_both_ways_and_ends_with_bye(pbx: Pbx, workdir: Path) -> None:
    _answered_call_with_rtp(pbx, workdir)


def test_relay_on_every_interface_names_the_address_towards_each_phone(
    tmp_path: Path, workdir: Path
) -> None:
    """Listening on IPv4 and IPv6 at once, the relay binds dual-stack and each SDP must carry
    the address the phone reaches us at (here 127.0.0.1), never 0.0.0.0 or ::."""
    server = Pbx(tmp_path / "pbx-dual", ring_timeout=RING_TIMEOUT)
    server.extra_args = ("--sip-listen", f"[::1]:{server.sip_port}")
    with server:
        _answered_call_with_rtp(server, workdir)
    assert "media=::" in server.log()


def _answered_call_with_rtp(pbx: Pbx, workdir: Path) -> None:
    with RtpProbe(HOST, free_port()) as probe:
        callee = flows.start_callee(pbx, "102", "uas_answer", workdir, rtp_port=probe.port)
        caller = flows.call(pbx, "101", "102", "uac_call", workdir, rtp_echo=True, duration_ms=2000)
        callee_result = callee.wait(15)
        assert caller.ok, caller.describe()
        assert callee_result.ok, callee_result.describe()
        assert caller.final_status("INVITE") == 200
        assert caller.final_status("BYE") == 200
        # The caller's pcap crossed the PBX to the callee; the callee's stream crossed back to
        # the caller (whose SIPp echoes it) and returned: media relayed in both directions.
        assert probe.foreign_received > 40, "caller's RTP never reached the callee"
        assert probe.own_returned > 40, "callee's RTP never reached the caller"
    invite = callee_result.received()[0]
    assert invite.method == "INVITE"
    assert invite.header("From") is not None and "101" in (invite.header("From") or "")
    records = flows.wait_call_records(pbx, 2)
    assert {r.status for r in records} == {"answered_out", "answered_in"}


def test_busy_callee_486_is_relayed(pbx: Pbx, workdir: Path) -> None:
    callee = flows.start_callee(pbx, "102", "uas_busy", workdir)
    caller = flows.call(pbx, "101", "102", "uac_rejected", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") == 486
    assert callee.wait(10).ok


def test_unanswered_call_times_out(pbx: Pbx, workdir: Path) -> None:
    started = time.monotonic()
    callee = flows.start_callee(pbx, "102", "uas_ring", workdir)
    caller = flows.call(pbx, "101", "102", "uac_rejected", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") in (408, 480)
    assert time.monotonic() - started >= RING_TIMEOUT
    # The PBX cancelled the ringing leg (the callee scenario completes only after CANCEL/487/ACK).
    result = callee.wait(10)
    assert result.ok, result.describe()
    assert any(m.method == "CANCEL" for m in result.received())


def test_caller_cancel_gets_487_and_cancels_the_callee(pbx: Pbx, workdir: Path) -> None:
    callee = flows.start_callee(pbx, "102", "uas_ring", workdir)
    caller = flows.call(pbx, "101", "102", "uac_cancel", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("CANCEL") == 200
    assert caller.final_status("INVITE") == 487
    result = callee.wait(10)
    assert result.ok, result.describe()
    assert any(m.method == "CANCEL" for m in result.received())
    records = flows.wait_call_records(pbx, 1)
    assert "cancelled" in {r.status for r in records}


def test_unknown_number_gets_404(pbx: Pbx, workdir: Path) -> None:
    caller = flows.call(pbx, "101", "999", "uac_rejected", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") == 404
    records = flows.wait_call_records(pbx, 1)
    assert "wrong_number" in {r.status for r in records}


def test_unregistered_callee_gets_480(pbx: Pbx, workdir: Path) -> None:
    caller = flows.call(pbx, "101", "103", "uac_rejected", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") == 480
