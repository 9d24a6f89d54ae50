"""An IVR menu reached from the company's number (SIPp as the carrier) and from its short
number (a SIPp phone): a key chooses, direct dialling reaches an extension, an invalid key
and silence use up the rounds, and after the last one the fallback takes the call. Keys are
sent as SIP INFO (application/dtmf-relay). The menu's greeting and invalid-key message are
short uploaded WAVs, so the timing is the test's, not text-to-speech's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from centralita.store.entities import CallRecord
from tests.e2e import audio, flows, sippctl
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e

TIMEOUT = 2  # seconds the menu waits for a key after its greeting
MENU = {
    "name": "main",
    "number": "500",
    "greeting": {"file": "greetings/main.wav"},
    "invalid": {"file": "greetings/invalid.wav"},
    "options": {"2": {"extension": "102"}},
    "timeout": TIMEOUT,
    "loops": 3,
    "after_loops": {"extension": "103"},
    "direct_dial": True,
}


@pytest.fixture
def pbx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    server = Pbx(
        tmp_path / "pbx",
        ring_timeout=3.0,
        dial_plan=flows.carrier_plan({"ivr": "main"}, ivrs=[MENU]),
    )
    media = server.data_dir / "tenants" / "acme" / "media" / "greetings"
    media.mkdir(parents=True)
    audio.write_tone(media / "main.wav", 500, 0.4)
    audio.write_tone(media / "invalid.wav", 700, 0.3)
    with flows.serving(request, server) as running:
        yield running


def _ivr_steps(record: CallRecord) -> list[dict[str, object]]:
    return [s for s in record.routing_trace if s.get("node") == "ivr"]


def _phones(pbx: Pbx, workdir: Path) -> dict[str, sippctl.SippProcess]:
    return {n: flows.start_callee(pbx, n, "uas_answer_hangup", workdir) for n in ("102", "103")}


def _who_rang(phones: dict[str, sippctl.SippProcess]) -> list[str]:
    for phone in phones.values():
        phone.stop()
    return [n for n, phone in phones.items() if flows.first_request(phone, "INVITE")]


def test_a_key_chooses_the_option(pbx: Pbx, workdir: Path) -> None:
    phones = _phones(pbx, workdir)
    # The greeting lasts 0.4 s; "2#" is option 2 at once (# ends a direct-dial number).
    steps = [flows.pause(800), flows.key("2"), flows.key("#"), flows.await_bye()]
    scenario = flows.scenario(workdir, "carrier_presses_2", "carrier", steps)
    result = flows.carrier_call(pbx, flows.COMPANY_NUMBER, scenario, workdir)
    assert result.ok, result.describe()
    assert result.statuses("INFO") == [200, 200]
    assert _who_rang(phones) == ["102"]
    records = flows.wait_call_records(pbx, 1)
    assert flows.statuses(records) == {"102": "answered_in"}
    chosen = [s for s in _ivr_steps(records[0]) if "key" in s]
    assert chosen == [
        {"node": "ivr", "ivr": "main", "loop": 1, "key": "2", "to": "extension 102"}
    ], records[0].routing_trace


def test_the_short_number_reaches_the_menu_and_direct_dialling_an_extension(
    pbx: Pbx, workdir: Path
) -> None:
    phones = _phones(pbx, workdir)
    steps = [flows.pause(800), *(flows.key(d) for d in "103#"), flows.await_bye()]
    scenario = flows.scenario(workdir, "phone_dials_103", "phone", steps)
    result = flows.call(pbx, "104", "500", scenario, workdir)
    assert result.ok, result.describe()
    assert _who_rang(phones) == ["103"]
    call_id = result.sent()[0].header("Call-ID") or ""
    records = flows.records_of(flows.wait_call_records(pbx, 2), call_id)
    assert flows.statuses(list(records.values())) == {"104": "answered_out", "103": "answered_in"}
    dialled = [s for s in _ivr_steps(records["103"]) if "dialled" in s]
    assert [s["dialled"] for s in dialled] == ["103"], records["103"].routing_trace


def test_invalid_key_and_silence_use_the_rounds_then_the_fallback_answers(
    pbx: Pbx, workdir: Path
) -> None:
    phones = _phones(pbx, workdir)
    # Round 1: "7#" is no option (invalid). Rounds 2 and 3: nothing within the timeout.
    steps = [flows.pause(800), flows.key("7"), flows.key("#"), flows.await_bye()]
    scenario = flows.scenario(workdir, "carrier_presses_7", "carrier", steps)
    result = flows.carrier_call(pbx, flows.COMPANY_NUMBER, scenario, workdir)
    assert result.ok, result.describe()
    assert _who_rang(phones) == ["103"]
    records = flows.wait_call_records(pbx, 1)
    assert flows.statuses(records) == {"103": "answered_in"}
    rounds = [
        {k: v for k, v in s.items() if k in ("loop", "invalid", "no_key", "after_loops", "to")}
        for s in _ivr_steps(records[0])
        if "loop" in s or "after_loops" in s
    ]
    assert rounds == [
        {"loop": 1, "invalid": "7"},
        {"loop": 2, "no_key": TIMEOUT},
        {"loop": 3, "no_key": TIMEOUT},
        {"after_loops": 3, "to": "extension 103"},
    ], records[0].routing_trace
