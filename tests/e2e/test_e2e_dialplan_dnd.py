"""Do-not-disturb by feature code from a SIPp phone: ``*78`` on, ``*79`` off. A call to a
user in DND takes the busy path: the caller gets 486 when there is no busy forwarding, or the
busy forward's destination otherwise; either way the user's row in the call log is ``dnd``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from centralita.store.entities import CallRecord
from tests.e2e import flows
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e


@pytest.fixture
def pbx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    server = Pbx(
        tmp_path / "pbx",
        ring_timeout=5.0,
        dial_plan=flows.carrier_plan({"extension": "101"}),
        routing={"102": {"forwarding": {"busy": {"extension": "103"}}}},
    )
    with flows.serving(request, server) as running:
        yield running


def _feature_code(pbx: Pbx, extension: str, code: str, workdir: Path) -> CallRecord:
    """``extension`` dials ``code``: the PBX answers, confirms with a prompt and hangs up."""
    scenario = flows.scenario(workdir, f"dials_{code[1:]}", "phone", [flows.await_bye()])
    result = flows.call(pbx, extension, code, scenario, workdir)
    assert result.ok, result.describe()
    return flows.wait_rows(pbx, flows.call_id_of(result))[extension]


def test_dnd_on_makes_callers_busy_and_dnd_off_lets_the_phone_ring(pbx: Pbx, workdir: Path) -> None:
    on = _feature_code(pbx, "101", "*78", workdir)
    assert [s.get("node") for s in on.routing_trace].count("feature_code") >= 1, on.routing_trace

    result = flows.call(pbx, "104", "101", "uac_rejected", workdir)
    assert result.ok, result.describe()
    assert result.final_status("INVITE") == 486
    rows = flows.wait_rows(pbx, flows.call_id_of(result), 2)
    assert rows["101"].status == "dnd", flows.statuses(list(rows.values()))

    _feature_code(pbx, "101", "*79", workdir)
    phone = flows.start_callee(pbx, "101", "uas_answer_hangup", workdir)
    waits = flows.scenario(workdir, "waits", "phone", [flows.await_bye()])
    answered = flows.call(pbx, "104", "101", waits, workdir)
    assert answered.ok, answered.describe()
    assert phone.wait(10).ok
    rows = flows.wait_rows(pbx, flows.call_id_of(answered), 2)
    assert flows.statuses(list(rows.values())) == {"104": "answered_out", "101": "answered_in"}


def test_dnd_takes_the_busy_forward(pbx: Pbx, workdir: Path) -> None:
    desk = flows.start_callee(pbx, "102", "uas_answer_hangup", workdir)
    carol = flows.start_callee(pbx, "103", "uas_answer_hangup", workdir)
    _feature_code(pbx, "102", "*78", workdir)
    waits = flows.scenario(workdir, "waits", "phone", [flows.await_bye()])
    result = flows.call(pbx, "104", "102", waits, workdir)
    assert result.ok, result.describe()
    carol_result = carol.wait(10)
    assert carol_result.ok, carol_result.describe()
    desk.stop()
    assert flows.first_request(desk, "INVITE") is None, "the phone in DND rang"
    rows = flows.wait_rows(pbx, flows.call_id_of(result), 3)
    assert flows.statuses(list(rows.values())) == {
        "104": "answered_out",
        "102": "dnd",
        "103": "answered_in",
    }
