"""Two baresip softphones registered to the PBX talk through it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e import audio, flows
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e

CALL_HOLD_SECONDS = 2.0


def _phone(pbx: Pbx, workdir: Path, number: str, tone_hz: float) -> Phone:
    account = Account(
        number,
        flows.domain_of(pbx),
        password=flows.extension(pbx, number).password,
        registrar=pbx.sip_address,
    )
    return Phone(workdir / f"phone-{number}", account, tone_hz=tone_hz)


def test_phones_call_through_the_pbx_and_hear_each_other(pbx: Pbx, workdir: Path) -> None:
    alice = _phone(pbx, workdir, "101", 440)
    bob = _phone(pbx, workdir, "102", 1000)
    with alice, bob:
        alice.wait_registered()
        bob.wait_registered()
        alice.dial(f"sip:102@{flows.domain_of(pbx)}")
        bob.wait_event("CALL_ESTABLISHED")
        alice.wait_event("CALL_ESTABLISHED")
        time.sleep(CALL_HOLD_SECONDS)  # the conversation itself: audio must flow for a while
        alice.hangup()
        alice.wait_event("CALL_CLOSED")
        bob.wait_event("CALL_CLOSED")
    heard, detail = audio.hears_tone(alice.dec_recording(), 1000)
    assert heard, f"101 did not hear 102: {detail}"
    heard, detail = audio.hears_tone(bob.dec_recording(), 440)
    assert heard, f"102 did not hear 101: {detail}"

    records = flows.wait_call_records(pbx, 2)
    by_status = {r.status: r for r in records}
    assert set(by_status) == {"answered_out", "answered_in"}, records
    for record in records:
        assert (record.caller, record.callee) == ("101", "102")
        assert CALL_HOLD_SECONDS * 0.5 <= record.talk_seconds <= CALL_HOLD_SECONDS + 5
        assert record.answered_at is not None and record.ended_at is not None
