from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from centralita.store import (
    CALL_STATUSES,
    AlreadyExists,
    CallRecord,
    CallRecordFilter,
    Store,
    TenantInfo,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


def record(tenant: TenantInfo, call_id: str, **changes: object) -> CallRecord:
    base = CallRecord(
        tenant_id=tenant.id,
        call_id=call_id,
        owner="101",
        direction="inbound",
        caller="+34911000000",
        callee="101",
        started_at=T0,
        status="answered_in",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_add_and_get_round_trip(store: Store, acme: TenantInfo) -> None:
    madrid = timezone(timedelta(hours=1))
    full = record(
        acme,
        "abc@host",
        caller_name="Bob",
        started_at=datetime(2026, 3, 1, 10, 0, tzinfo=madrid),
        answered_at=datetime(2026, 3, 1, 9, 0, 5, tzinfo=UTC),
        ended_at=datetime(2026, 3, 1, 9, 1, 5, tzinfo=UTC),
        wait_seconds=5.0,
        talk_seconds=60.0,
        answered_by="101",
        hangup_cause="normal",
        routing_trace=[{"step": "did", "to": "ivr"}, {"step": "extension", "number": "101"}],
    )
    store.call_records.add(full)
    got = store.call_records.get(acme.id, "abc@host", "101")
    assert got == replace(full, started_at=T0)  # same instant, given back in UTC
    assert got is not None and got.started_at.tzinfo is UTC


def test_naive_datetimes_are_refused(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        store.call_records.add(record(acme, "naive", started_at=datetime(2026, 3, 1)))


def test_one_row_per_call_and_owner(store: Store, acme: TenantInfo) -> None:
    caller_row = record(acme, "same", owner="102", direction="outbound", status="answered_out")
    callee_row = record(acme, "same", owner="101", caller="102")
    store.call_records.add(caller_row)
    store.call_records.add(callee_row)
    with pytest.raises(AlreadyExists, match="'same' is already recorded for '101'"):
        store.call_records.add(callee_row)
    assert store.call_records.list_for_call(acme.id, "same") == [callee_row, caller_row]
    assert store.call_records.get(acme.id, "same", "102") == caller_row
    assert store.call_records.get(acme.id, "same", "103") is None


def test_database_enforces_the_status_list(store: Store, acme: TenantInfo) -> None:
    insert = text(
        "INSERT INTO call_records (tenant_id, call_id, owner, direction, caller, callee,"
        " started_at, wait_seconds, talk_seconds, status, routing_trace)"
        " VALUES (:tenant, :call_id, '2', 'inbound', '1', '2', :at, 0, 0, :status, '[]')"
    )
    values = {"tenant": acme.id, "at": T0.replace(tzinfo=None), "status": "answered"}
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(insert, {**values, "call_id": "bad"})
    for status in CALL_STATUSES:
        with store.engine.begin() as connection:
            connection.execute(insert, {**values, "call_id": status, "status": status})
    assert len(store.call_records.list(acme.id)) == len(CALL_STATUSES) == 10


def test_list_filters_and_orders_newest_first(store: Store, acme: TenantInfo) -> None:
    beta = store.tenants.add("beta", "beta.test")
    store.call_records.add(record(acme, "c1", started_at=T0))
    store.call_records.add(
        record(
            acme,
            "c2",
            started_at=T0 + timedelta(hours=1),
            status="missed",
            callee="102",
            owner="102",
        )
    )
    store.call_records.add(
        record(
            acme,
            "c3",
            started_at=T0 + timedelta(hours=2),
            direction="outbound",
            caller="102",
            owner="102",
            callee="+34600000000",
            status="answered_out",
        )
    )
    store.call_records.add(record(beta, "c4"))

    def ids(where: CallRecordFilter | None = None) -> list[str]:
        return [r.call_id for r in store.call_records.list(acme.id, where)]

    assert ids() == ["c3", "c2", "c1"]
    assert ids(CallRecordFilter(status="missed")) == ["c2"]
    assert ids(CallRecordFilter(direction="outbound")) == ["c3"]
    assert ids(CallRecordFilter(number="102")) == ["c3", "c2"]
    assert ids(CallRecordFilter(owner="101")) == ["c1"]
    assert ids(CallRecordFilter(since=T0 + timedelta(minutes=30))) == ["c3", "c2"]
    assert ids(CallRecordFilter(until=T0 + timedelta(hours=1))) == ["c1"]
    assert ids(CallRecordFilter(limit=1, offset=1)) == ["c2"]
    assert store.call_records.get(acme.id, "c4", "101") is None  # another tenant's call
