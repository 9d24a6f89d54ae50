"""Forwarding to an employee's mobile, one test per condition: unconditional, busy, no
answer, unreachable. The mobile is reached through the carrier, whose proxy is a SIPp UAS on
the carrier's address: its INVITE shows what the outside world sees (From and
P-Asserted-Identity must be the company's number, RFC 3325 §9.1, never the mobile nor an
extension). The call log says ``answered_in`` (answered by the mobile) or
``forwarded_unanswered`` for the extension that forwarded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from centralita.store.entities import CallRecord
from tests.e2e import flows, sippctl
from tests.e2e.pbx import Extension, Pbx, acme
from tests.e2e.ports import free_port

pytestmark = pytest.mark.e2e

NO_ANSWER_AFTER = 2
TO_MOBILE = {"number": flows.MOBILE}
ROUTING: dict[str, dict[str, Any]] = {
    "101": {"forwarding": {"unconditional": TO_MOBILE}},
    "102": {"forwarding": {"busy": TO_MOBILE}},
    "103": {"forwarding": {"no_answer": {"after": NO_ANSWER_AFTER, "to": TO_MOBILE}}},
    "104": {"forwarding": {"unreachable": {"to": TO_MOBILE}}},
}


class Forwarding:
    """The server, and the port its carrier's proxy (the mobile's side) listens on."""

    def __init__(self, pbx: Pbx, proxy_port: int) -> None:
        self.pbx = pbx
        self.proxy_port = proxy_port

    def mobile(self, workdir: Path, scenario: str) -> sippctl.SippProcess:
        return flows.carrier_proxy(workdir, scenario, local_port=self.proxy_port)


@pytest.fixture
def fwd(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Forwarding]:
    proxy_port = free_port()
    tenant = acme()
    erin = Extension("105", "Erin", "s3cret-105")  # the internal caller
    server = Pbx(
        tmp_path / "pbx",
        tenants=(replace(tenant, extensions=(*tenant.extensions, erin)),),
        ring_timeout=10.0,
        dial_plan=flows.carrier_plan(
            {"extension": "101"}, proxy=f"{flows.CARRIER_IP}:{proxy_port}"
        ),
        routing=ROUTING,
    )
    with flows.serving(request, server) as running:
        yield Forwarding(running, proxy_port)


def _shows_the_company_number(mobile: sippctl.SippResult) -> None:
    invite = mobile.received()[0]
    assert invite.method == "INVITE", mobile.describe()
    assert flows.user_part(invite.first_line) == flows.MOBILE
    assert flows.user_part(invite.header("From")) == flows.COMPANY_NUMBER, invite.text
    pai = invite.header("P-Asserted-Identity")
    assert flows.user_part(pai) == flows.COMPANY_NUMBER, invite.text


def _records(pbx: Pbx, call_id: str, count: int) -> dict[str, CallRecord]:
    return flows.records_of(flows.wait_call_records(pbx, count), call_id)


def _call_id(result: sippctl.SippResult) -> str:
    return result.sent()[0].header("Call-ID") or ""


def test_unconditional_forward_sends_an_outside_call_to_the_mobile(
    fwd: Forwarding, workdir: Path
) -> None:
    desk = flows.start_callee(fwd.pbx, "101", "uas_ring", workdir)
    mobile = fwd.mobile(workdir, "uas_answer")
    # The caller ends the conversation: the row must say answered_in all the same.
    scenario = flows.scenario(workdir, "caller_talks", "carrier", [flows.pause(1000), flows.BYE])
    caller = flows.carrier_call(fwd.pbx, flows.COMPANY_NUMBER, scenario, workdir)
    assert caller.ok, caller.describe()
    mobile_result = mobile.wait(10)
    assert mobile_result.ok, mobile_result.describe()
    _shows_the_company_number(mobile_result)
    desk.stop()
    assert flows.first_request(desk, "INVITE") is None, "the desk phone rang"
    records = _records(fwd.pbx, _call_id(caller), 1)
    assert flows.statuses(list(records.values())) == {"101": "answered_in"}
    assert records["101"].answered_by == flows.MOBILE
    assert records["101"].caller == flows.CARRIER_CALLER


def test_busy_forward_when_the_phone_is_busy_and_the_mobile_too(
    fwd: Forwarding, workdir: Path
) -> None:
    desk = flows.start_callee(fwd.pbx, "102", "uas_busy", workdir)
    mobile = fwd.mobile(workdir, "uas_busy")
    caller = flows.call(fwd.pbx, "105", "102", "uac_rejected", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") == 486
    assert desk.wait(10).ok
    mobile_result = mobile.wait(10)
    assert mobile_result.ok, mobile_result.describe()
    _shows_the_company_number(mobile_result)
    records = _records(fwd.pbx, _call_id(caller), 2)
    assert records["102"].status == "forwarded_unanswered"
    assert records["105"].status != "answered_out"


def test_no_answer_forward_after_the_configured_seconds(fwd: Forwarding, workdir: Path) -> None:
    desk = flows.start_callee(fwd.pbx, "103", "uas_ring", workdir)
    mobile = fwd.mobile(workdir, "uas_answer_hangup")  # the mobile ends the conversation
    scenario = flows.scenario(workdir, "erin_waits", "phone", [flows.await_bye()])
    caller = flows.call(fwd.pbx, "105", "103", scenario, workdir)
    assert caller.ok, caller.describe()
    desk_result = desk.wait(10)
    assert desk_result.ok, desk_result.describe()
    mobile_result = mobile.wait(10)
    assert mobile_result.ok, mobile_result.describe()
    _shows_the_company_number(mobile_result)
    rang = flows.first_request(desk, "INVITE")
    cancelled = flows.first_request(desk, "CANCEL")
    assert rang is not None and cancelled is not None
    rang_for = cancelled.at - rang.at
    after = timedelta(seconds=NO_ANSWER_AFTER)
    assert after - timedelta(seconds=0.3) <= rang_for <= after + timedelta(seconds=1), rang_for
    records = _records(fwd.pbx, _call_id(caller), 2)
    assert flows.statuses(list(records.values())) == {"105": "answered_out", "103": "answered_in"}
    assert records["103"].answered_by == flows.MOBILE


def test_unreachable_forward_when_no_phone_is_registered(fwd: Forwarding, workdir: Path) -> None:
    mobile = fwd.mobile(workdir, "uas_busy")
    caller = flows.call(fwd.pbx, "105", "104", "uac_rejected", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") == 486
    mobile_result = mobile.wait(10)
    assert mobile_result.ok, mobile_result.describe()
    _shows_the_company_number(mobile_result)
    records = _records(fwd.pbx, _call_id(caller), 2)
    assert records["104"].status == "forwarded_unanswered"
    trace = records["104"].routing_trace
    steps = [s.get("detail") for s in trace if s.get("node") == "extension 104"]
    assert "no phone registered: the unreachable path" in steps, records["104"].routing_trace


def test_forward_set_from_the_phone_with_star72_and_cleared_with_star73(
    fwd: Forwarding, workdir: Path
) -> None:
    # Erin (105) has no forwarding of her own: only the one she sets from her phone.
    hears_goodbye = flows.scenario(workdir, "feature", "phone", [flows.await_bye()])
    on = flows.call(fwd.pbx, "105", f"*72{flows.MOBILE}", hears_goodbye, workdir)
    assert on.ok, on.describe()
    mobile = fwd.mobile(workdir, "uas_busy")
    caller = flows.call(fwd.pbx, "103", "105", "uac_rejected", workdir)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") == 486
    mobile_result = mobile.wait(10)
    assert mobile_result.ok, mobile_result.describe()
    _shows_the_company_number(mobile_result)
    assert _records(fwd.pbx, _call_id(caller), 2)["105"].status == "forwarded_unanswered"

    off = flows.call(fwd.pbx, "105", "*73", hears_goodbye, workdir)
    assert off.ok, off.describe()
    desk = flows.start_callee(fwd.pbx, "105", "uas_answer_hangup", workdir)
    waits = flows.scenario(workdir, "waits", "phone", [flows.await_bye()])
    answered = flows.call(fwd.pbx, "103", "105", waits, workdir)
    assert answered.ok, answered.describe()
    assert desk.wait(10).ok
    rows = flows.wait_rows(fwd.pbx, _call_id(answered), 2)
    assert flows.statuses(list(rows.values())) == {"103": "answered_out", "105": "answered_in"}
