"""The harness proven against real peers without the PBX: SIPp scenarios against SIPp
stand-ins, and two baresip phones calling each other directly."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

from tests.e2e import audio, sippctl
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.ports import HOST, free_port
from tests.e2e.rtp import RtpProbe

pytestmark = pytest.mark.e2e

CALL_HOLD_SECONDS = 2.0


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _digest_params(header: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}


def _expected_response(params: dict[str, str], method: str, password: str) -> str:
    """RFC 2617 §3.2.2.1 (qop=auth), as RFC 3261 §22.4 uses it."""
    ha1 = _md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = _md5(f"{method}:{params['uri']}")
    return _md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")


def _register_with_stand_in(workdir: Path, scenario: str, password: str) -> sippctl.SippResult:
    port = free_port()
    registrar = sippctl.start(
        "peer_registrar",
        workdir,
        sippctl.SippOptions(local_port=port, keys={"user": "101", "password": "s3cret-101"}),
    )
    result = sippctl.run(
        scenario,
        workdir,
        sippctl.SippOptions(
            remote=f"{HOST}:{port}",
            service="101",
            auth=("101", password),
            auth_uri="acme.test",
            timeout_s=10,
        ),
    )
    assert registrar.wait(10).ok
    return result


def test_register_scenario_authenticates_as_a_phone_does(workdir: Path) -> None:
    result = _register_with_stand_in(workdir, "register", "s3cret-101")
    assert result.ok, result.describe()
    assert result.statuses("REGISTER") == [401, 200]
    authorization = result.sent()[1].header("Authorization")
    assert authorization is not None
    params = _digest_params(authorization)
    assert params["uri"] == "sip:acme.test"  # equals the Request-URI, RFC 3261 §22.4
    assert params["response"] == _expected_response(params, "REGISTER", "s3cret-101")


def test_register_rejected_scenario_sees_a_second_challenge(workdir: Path) -> None:
    result = _register_with_stand_in(workdir, "register_rejected", "wrong")
    assert result.ok, result.describe()
    assert result.statuses("REGISTER") == [401, 401]


def _call_stand_in(
    workdir: Path, uas: str, uac: str, probe: RtpProbe, **uac_options: object
) -> tuple[sippctl.SippResult, sippctl.SippResult]:
    port = free_port()
    callee = sippctl.start(
        sippctl.with_challenge(uas, workdir),
        workdir,
        sippctl.SippOptions(local_port=port, service="102", keys={"rtp_port": str(probe.port)}),
    )
    options = sippctl.SippOptions(
        remote=f"{HOST}:{port}",
        service="101",
        auth=("101", "s3cret-101"),
        auth_uri="102@acme.test",
        keys={"callee": "102"},
        timeout_s=20,
    )
    for name, value in uac_options.items():
        setattr(options, name, value)
    caller = sippctl.run(uac, workdir, options)
    return caller, callee.wait(10)


def test_call_scenarios_carry_rtp_both_ways(workdir: Path) -> None:
    with RtpProbe(HOST, free_port()) as probe:
        caller, callee = _call_stand_in(
            workdir, "uas_answer", "uac_call", probe, rtp_echo=True, duration_ms=1500
        )
        assert caller.ok, caller.describe()
        assert callee.ok, callee.describe()
        assert caller.statuses("INVITE") == [407, 180, 200]
        assert caller.final_status("BYE") == 200
        # ~50 packets/s each way for 1.5 s: the pcap reached the callee, and the callee's own
        # stream came back through the caller's echo.
        assert probe.foreign_received > 30
        assert probe.own_returned > 30
    invite = [m for m in caller.sent() if m.method == "INVITE"][1]
    proxy_auth = invite.header("Proxy-Authorization")
    assert proxy_auth is not None
    params = _digest_params(proxy_auth)
    assert params["uri"] == "sip:102@acme.test"
    assert params["response"] == _expected_response(params, "INVITE", "s3cret-101")


def test_rejected_scenario_acks_a_busy_callee(workdir: Path) -> None:
    with RtpProbe(HOST, free_port()) as probe:
        caller, callee = _call_stand_in(workdir, "uas_busy", "uac_rejected", probe)
    assert caller.ok, caller.describe()
    assert callee.ok, callee.describe()  # the callee got its ACK
    assert caller.final_status("INVITE") == 486


def test_cancel_scenario_cancels_a_ringing_callee(workdir: Path) -> None:
    with RtpProbe(HOST, free_port()) as probe:
        caller, callee = _call_stand_in(workdir, "uas_ring", "uac_cancel", probe)
    assert caller.ok, caller.describe()
    assert callee.ok, callee.describe()
    assert caller.final_status("CANCEL") == 200
    assert caller.final_status("INVITE") == 487


def test_two_baresip_phones_hear_each_other(workdir: Path) -> None:
    alice = Phone(workdir / "alice", Account("alice", HOST), tone_hz=440)
    bob = Phone(workdir / "bob", Account("bob", HOST), tone_hz=1000)
    with alice, bob:
        alice.dial(f"sip:bob@{HOST}:{bob.sip_port}")
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        time.sleep(CALL_HOLD_SECONDS)  # the conversation itself: audio must flow for a while
        alice.hangup()
        alice.wait_event("CALL_CLOSED")
        bob.wait_event("CALL_CLOSED")
    heard, detail = audio.hears_tone(alice.dec_recording(), 1000)
    assert heard, detail
    heard, detail = audio.hears_tone(bob.dec_recording(), 440)
    assert heard, detail


def test_tone_analysis_tells_frequencies_apart(workdir: Path) -> None:
    path = audio.write_tone(workdir / "tone.wav", 440, 1.0)
    assert audio.hears_tone(path, 440)[0]
    assert not audio.hears_tone(path, 1000)[0]
