"""A conference room of the dial plan with a PIN: three baresip phones dial the room's short
number, key the PIN (RFC 4733 events; one of them the moderator's PIN), and talk at once,
each sending its own tone. Each must hear the other two and not itself; each caller's row
in the call log says ``answered_out`` and its trace names the role the PIN gave."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import audio, flows
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e

ROOM = {"name": "team", "number": "800", "pin": "4321", "moderator_pin": "9999"}
TONES = {"101": 440.0, "102": 1000.0, "103": 1700.0}
PINS = {"101": "9999", "102": "4321", "103": "4321"}


@pytest.fixture
def pbx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    server = Pbx(
        tmp_path / "pbx",
        ring_timeout=5.0,
        dial_plan=flows.carrier_plan({"conference": "team"}, conferences=[ROOM]),
    )
    with flows.serving(request, server) as running:
        yield running


def _phone(pbx: Pbx, workdir: Path, number: str) -> Phone:
    account = Account(
        number,
        flows.domain_of(pbx),
        password=flows.extension(pbx, number).password,
        registrar=pbx.sip_address,
    )
    return Phone(workdir / f"phone-{number}", account, tone_hz=TONES[number])


def test_three_phones_with_the_pin_talk_in_the_room(pbx: Pbx, workdir: Path) -> None:
    phones = {number: _phone(pbx, workdir, number) for number in TONES}
    established: dict[str, float] = {}
    for phone in phones.values():
        phone.start()
    try:
        for number, phone in phones.items():
            phone.wait_registered()
            phone.dial(f"sip:{ROOM['number']}@{flows.domain_of(pbx)}")
            phone.wait_event("CALL_ESTABLISHED")
            established[number] = time.monotonic()
            phone.send_dtmf(PINS[number] + "#")  # barges in on "enter your PIN"
        all_in = time.monotonic() + 1.5  # the last one's PIN checked, the join tone over
        time.sleep(4.5)  # everybody talking at once
        end = time.monotonic()
        for phone in phones.values():
            phone.hangup()
            phone.wait_event("CALL_CLOSED")
    finally:
        for phone in phones.values():
            phone.stop()
    for number, phone in phones.items():
        samples, rate = audio.read_wav(phone.dec_recording())
        begin, stop = (int((t - established[number]) * rate) for t in (all_in, end - 0.3))
        window = samples[begin:stop]
        assert len(window) > 2 * rate, f"{number}: only {len(window) / rate:.2f} s to analyse"
        for other, hz in TONES.items():
            share = audio.band_energy_fraction(window, rate, hz)
            if other == number:
                assert share < 0.02, f"{number} heard itself ({share:.1%})"
            else:
                assert share > 0.1, f"{number} did not hear {other} at {hz} Hz ({share:.1%})"
    records = flows.wait_call_records(pbx, 3)
    assert flows.statuses(records) == {n: "answered_out" for n in TONES}
    for record in records:
        roles = [s.get("role") for s in record.routing_trace if s.get("node") == "conference"]
        expected = "moderator" if record.owner == "101" else "member"
        assert expected in roles, record.routing_trace
