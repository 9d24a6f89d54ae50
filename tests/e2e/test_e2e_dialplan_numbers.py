"""Carriers and virtual numbers through a schedule: SIPp as the carrier calls the company's
number; the server reads the clock from ``serve --pretend-time`` (Europe/Madrid, Spanish and
Madrid holidays), so business hours, a weekday night and Christmas are injected, not waited
for. Open hours go to Alice (101), closed ones to Bob (102): the phone that rings says which
branch the schedule took, and so does the call record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import flows
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e

OFFICE = {
    "name": "office",
    "hours": ["mon-fri 09:00-18:00"],
    "holidays": {"country": "ES", "subdivision": "MD"},
    "closed_dates": ["2026-12-24"],
    "open": {"extension": "101"},
    "closed": {"extension": "102"},
}


def _server(tmp_path: Path, pretend: str) -> Pbx:
    return Pbx(
        tmp_path / "pbx",
        ring_timeout=3.0,
        dial_plan=flows.carrier_plan({"schedule": "office"}, schedules=[OFFICE]),
        extra_args=("--pretend-time", pretend),
    )


@pytest.fixture
def tuesday_morning(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    with flows.serving(request, _server(tmp_path, "2026-12-22 10:30+01:00")) as server:
        yield server


@pytest.fixture
def tuesday_night(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    # 21:30 UTC is 22:30 in Madrid: --pretend-time is UTC unless an offset is given.
    with flows.serving(request, _server(tmp_path, "2026-12-22 21:30")) as server:
        yield server


@pytest.fixture
def christmas_morning(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    # Friday 25 December 2026, 11:00 in Madrid: inside "mon-fri 09:00-18:00", but a holiday.
    with flows.serving(request, _server(tmp_path, "2026-12-25 11:00+01:00")) as server:
        yield server


def _call_company(pbx: Pbx, workdir: Path) -> tuple[str, str]:
    """Alice and Bob answer on SIPp; the carrier calls the company and the answering phone
    hangs up after talking. Returns (who answered, the call's Call-ID)."""
    phones = {n: flows.start_callee(pbx, n, "uas_answer_hangup", workdir) for n in ("101", "102")}
    scenario = flows.scenario(workdir, "carrier_waits", "carrier", [flows.await_bye()])
    try:
        result = flows.carrier_call(pbx, flows.COMPANY_NUMBER, scenario, workdir)
        assert result.ok, result.describe()
    finally:
        for phone in phones.values():
            phone.stop()
    rang = [n for n, phone in phones.items() if flows.first_request(phone, "INVITE")]
    assert len(rang) == 1, f"expected exactly one phone to ring, got {rang}"
    invite = flows.first_request(phones[rang[0]], "INVITE")
    assert invite is not None
    # The phone sees who called from outside, as the carrier presented it.
    assert flows.user_part(invite.message.header("From")) == flows.CARRIER_CALLER
    call_id = result.sent()[0].header("Call-ID") or ""
    return rang[0], call_id


def _schedule_step(pbx: Pbx, answered_by: str) -> dict[str, object]:
    """The schedule's step of the call's routing trace, once the call record says that
    ``answered_by`` took the call."""
    records = flows.wait_call_records(pbx, 1)
    assert flows.statuses(records) == {answered_by: "answered_in"}, records
    (record,) = records
    assert record.caller == flows.CARRIER_CALLER
    assert record.direction == "inbound"
    (step,) = flows.trace_steps(record, "schedule office")
    assert step["then"] == f"extension {answered_by}", record.routing_trace
    return step


def test_in_business_hours_the_number_reaches_the_open_destination(
    tuesday_morning: Pbx, workdir: Path
) -> None:
    answered, _ = _call_company(tuesday_morning, workdir)
    assert answered == "101"
    step = _schedule_step(tuesday_morning, "101")
    assert step["open"] is True
    assert step["detail"] == "open: mon-fri 09:00-18:00"


def test_at_night_the_number_reaches_the_closed_destination(
    tuesday_night: Pbx, workdir: Path
) -> None:
    answered, _ = _call_company(tuesday_night, workdir)
    assert answered == "102"
    step = _schedule_step(tuesday_night, "102")
    assert step["open"] is False
    assert "outside" in str(step["detail"]), step


def test_on_a_public_holiday_in_hours_the_number_is_closed(
    christmas_morning: Pbx, workdir: Path
) -> None:
    answered, _ = _call_company(christmas_morning, workdir)
    assert answered == "102"
    step = _schedule_step(christmas_morning, "102")
    assert step["open"] is False
    # holidays' own name for 25 December in Spain, in Spanish: "Natividad del Señor".
    assert "public holiday" in str(step["detail"]) and "Natividad" in str(step["detail"]), step


def test_unknown_numbers_get_404_and_unknown_sources_403(
    tuesday_morning: Pbx, workdir: Path
) -> None:
    unknown_number = flows.carrier_call(
        tuesday_morning, "+34910009999", "carrier_rejected", workdir
    )
    assert unknown_number.ok, unknown_number.describe()
    assert unknown_number.final_status("INVITE") == 404
    # 127.0.0.3 is no carrier of the tenant: refused without a digest challenge.
    stranger = flows.carrier_call(
        tuesday_morning,
        flows.COMPANY_NUMBER,
        "carrier_rejected",
        workdir,
        local_ip="127.0.0.3",
    )
    assert stranger.ok, stranger.describe()
    assert stranger.final_status("INVITE") == 403
    assert stranger.statuses("INVITE")[-1] == 403
