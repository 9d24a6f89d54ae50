"""Bridged calls whose legs differ: codecs transcoded, SRTP on one leg only (baresip phones)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from tests.e2e import audio, flows
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.pbx import Pbx, Tenant, acme

pytestmark = pytest.mark.e2e

TALK_SECONDS = 2.5


def _phone(pbx: Pbx, workdir: Path, number: str, tone_hz: float, **account: str) -> Phone:
    base = Account(
        number,
        flows.domain_of(pbx),
        password=flows.extension(pbx, number).password,
        registrar=pbx.sip_address,
    )
    return Phone(workdir / f"phone-{number}", dataclasses.replace(base, **account), tone_hz=tone_hz)


def _talk(alice: Phone, bob: Phone, pbx: Pbx) -> None:
    alice.wait_registered()
    bob.wait_registered()
    alice.dial(f"sip:102@{flows.domain_of(pbx)}")
    bob.wait_event("CALL_ESTABLISHED")
    alice.wait_event("CALL_ESTABLISHED")
    time.sleep(TALK_SECONDS)  # the conversation: audio must flow for a while
    alice.hangup()
    alice.wait_event("CALL_CLOSED")
    bob.wait_event("CALL_CLOSED")


def _heard(alice: Phone, bob: Phone) -> None:
    heard, detail = audio.hears_tone(alice.dec_recording(), 1000)
    assert heard, f"101 did not hear 102: {detail}"
    heard, detail = audio.hears_tone(bob.dec_recording(), 440)
    assert heard, f"102 did not hear 101: {detail}"


def test_pcmu_phone_talks_with_a_g722_phone_through_transcoding(pbx: Pbx, workdir: Path) -> None:
    alice = _phone(pbx, workdir, "101", 440, codecs="PCMU")
    bob = _phone(pbx, workdir, "102", 1000, codecs="G722")
    with alice, bob:
        _talk(alice, bob, pbx)
    _heard(alice, bob)
    log = pbx.log()
    assert "G722/8000" in log and "PCMU/8000" in log


def test_srtp_phone_talks_with_a_plain_rtp_phone(tmp_path: Path, workdir: Path) -> None:
    base = acme()
    people = tuple(
        dataclasses.replace(e, srtp="required") if e.number == "102" else e for e in base.extensions
    )
    tenant = Tenant(base.name, base.domain, people, default=True)
    server = Pbx(tmp_path / "pbx-srtp", tenants=(tenant,), ring_timeout=3.0)
    with server:
        alice = _phone(server, workdir, "101", 440)
        bob = _phone(server, workdir, "102", 1000, mediaenc="srtp-mand")
        with alice, bob:
            _talk(alice, bob, server)
        log = server.log()
    _heard(alice, bob)
    # The INVITE towards 102 offered SRTP with our key (RFC 4568); 101's leg stayed plain.
    assert "RTP/SAVP" in log and "a=crypto:" in log


def test_phones_registered_over_tcp_talk_through_their_connections(pbx: Pbx, workdir: Path) -> None:
    """Both phones keep a TCP connection to the PBX; the INVITE to 102 must travel back over
    102's own connection (RFC 3261 §18.2.2, RFC 5626 §5), as a phone behind NAT needs."""
    alice = _phone(pbx, workdir, "101", 440, transport="tcp")
    bob = _phone(pbx, workdir, "102", 1000, transport="tcp")
    with alice, bob:
        _talk(alice, bob, pbx)
    _heard(alice, bob)
    assert "SIP/2.0/TCP" in pbx.log()
