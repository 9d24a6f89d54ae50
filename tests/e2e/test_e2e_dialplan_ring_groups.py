"""Ring groups, one test per strategy: a SIPp phone (104) dials the group's short number and
SIPp phones answer as members. SIPp's message log times each member's INVITE, which tells
who rang in what order; the answering member hangs up, and the call log says who took the
call (``answered_in``) and who rang in vain (``missed``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from centralita.store.entities import CallRecord
from tests.e2e import flows, sippctl
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e

MEMBER_TIMEOUT = 2
GROUPS = [
    {
        "name": "sales",
        "number": "600",
        "strategy": "sequential",
        "member_timeout": MEMBER_TIMEOUT,
        "members": ["101", "102"],
    },
    {
        "name": "support",
        "number": "601",
        "strategy": "simultaneous",
        "member_timeout": 5,
        "members": ["101", "102"],
    },
    {
        "name": "desk",
        "number": "602",
        "strategy": "first_free",
        "member_timeout": MEMBER_TIMEOUT,
        "members": ["101", "102"],
    },
]


@pytest.fixture
def pbx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    server = Pbx(
        tmp_path / "pbx",
        ring_timeout=10.0,
        dial_plan=flows.carrier_plan({"ring_group": "sales"}, ring_groups=GROUPS),
    )
    with flows.serving(request, server) as running:
        yield running


def _call_group(pbx: Pbx, group: str, workdir: Path) -> dict[str, CallRecord]:
    """104 calls the group and stays until the member who answered hangs up; the call's
    records by owner."""
    scenario = flows.scenario(workdir, f"calls_{group}", "phone", [flows.await_bye()])
    result = flows.call(pbx, "104", group, scenario, workdir)
    assert result.ok, result.describe()
    call_id = result.sent()[0].header("Call-ID") or ""
    records = flows.wait_call_records(pbx, 2)
    return flows.records_of(records, call_id)


def _invite_at(phone: sippctl.SippProcess) -> flows.Logged:
    found = flows.first_request(phone, "INVITE")
    assert found is not None, f"{phone.options.service} never rang"
    return found


def test_sequential_rings_members_in_order_each_for_the_member_timeout(
    pbx: Pbx, workdir: Path
) -> None:
    alice = flows.start_callee(pbx, "101", "uas_ring", workdir)
    bob = flows.start_callee(pbx, "102", "uas_answer_hangup", workdir)
    records = _call_group(pbx, "600", workdir)
    alice_result, bob_result = alice.wait(10), bob.wait(10)
    assert alice_result.ok, alice_result.describe()
    assert bob_result.ok, bob_result.describe()
    gap = _invite_at(bob).at - _invite_at(alice).at
    # Alice alone first, cancelled after her turn; then Bob, who answers.
    assert timedelta(seconds=MEMBER_TIMEOUT - 0.3) <= gap <= timedelta(seconds=MEMBER_TIMEOUT + 1)
    cancel = flows.first_request(alice, "CANCEL")
    assert cancel is not None and cancel.at <= _invite_at(bob).at
    assert flows.statuses(list(records.values())) == {
        "104": "answered_out",
        "101": "missed",
        "102": "answered_in",
    }
    assert records["101"].answered_by == "102"
    assert records["104"].answered_by == "102"


def test_simultaneous_rings_every_member_at_once_and_cancels_the_others(
    pbx: Pbx, workdir: Path
) -> None:
    alice = flows.start_callee(pbx, "101", "uas_ring", workdir)
    # Bob rings for a second before answering, so both phones ring together for a while.
    bob = flows.start_callee(pbx, "102", "uas_answer_hangup", workdir, duration_ms=1000)
    records = _call_group(pbx, "601", workdir)
    alice_result, bob_result = alice.wait(10), bob.wait(10)
    assert alice_result.ok, alice_result.describe()
    assert bob_result.ok, bob_result.describe()
    gap = abs(_invite_at(bob).at - _invite_at(alice).at)
    assert gap < timedelta(seconds=0.5), gap
    cancel = flows.first_request(alice, "CANCEL")
    assert cancel is not None
    answered = [e for e in flows.logged(bob) if e.message.status == 200]
    assert answered and cancel.at >= answered[0].at  # Alice rang until Bob answered
    assert flows.statuses(list(records.values())) == {
        "104": "answered_out",
        "101": "missed",
        "102": "answered_in",
    }


def test_first_free_skips_a_member_in_a_call(pbx: Pbx, workdir: Path) -> None:
    # Alice (101) is busy talking to Carol (103) when the call to the group comes in.
    carol = flows.start_callee(pbx, "103", "uas_answer", workdir)
    alice = flows.start_call(pbx, "101", "103", "uac_call", workdir, duration_ms=6000)
    flows.wait_request(carol, "ACK")
    bob = flows.start_callee(pbx, "102", "uas_answer_hangup", workdir)
    records = _call_group(pbx, "602", workdir)
    bob_result = bob.wait(10)
    assert bob_result.ok, bob_result.describe()
    alice_result = alice.wait(15)  # her own call; an INVITE from the group would fail it
    assert alice_result.ok, alice_result.describe()
    assert not [m for m in alice_result.received() if m.method == "INVITE"]
    assert carol.wait(10).ok
    assert flows.statuses(list(records.values())) == {"104": "answered_out", "102": "answered_in"}
    skipped = [s for s in records["102"].routing_trace if s.get("skipped") == "101"]
    assert [s.get("detail") for s in skipped] == ["round 1: 101 skipped: in a call"], skipped
