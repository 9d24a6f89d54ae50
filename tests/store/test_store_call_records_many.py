"""Many call records in one statement: the call-log writer's batches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from centralita.store import CallRecord, Store, TenantInfo

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


def record(tenant: TenantInfo, call_id: str, owner: str = "101") -> CallRecord:
    return CallRecord(
        tenant_id=tenant.id,
        call_id=call_id,
        owner=owner,
        direction="inbound",
        caller="+34911000000",
        callee=owner,
        started_at=T0,
        status="missed",
    )


def test_add_many_writes_every_field_of_every_row(store: Store, acme: TenantInfo) -> None:
    plain = record(acme, "a@host")
    full = replace(
        record(acme, "b@host", owner="102"),
        direction="outbound",
        caller="102",
        callee="+34600000000",
        caller_name="Ana",
        answered_at=T0 + timedelta(seconds=4),
        ended_at=T0 + timedelta(seconds=64),
        wait_seconds=4.0,
        talk_seconds=60.0,
        status="answered_out",
        answered_by="+34600000000",
        hangup_cause="normal",
        routing_trace=[{"step": "extension", "number": "102"}],
        recording="/var/rec/b.wav",
    )
    store.call_records.add_many([plain, full])
    assert store.call_records.get(acme.id, "a@host", "101") == plain
    assert store.call_records.get(acme.id, "b@host", "102") == full


def test_add_many_of_nothing_writes_nothing(store: Store, acme: TenantInfo) -> None:
    store.call_records.add_many([])
    assert store.call_records.list(acme.id) == []


def test_a_duplicate_refuses_the_whole_batch(store: Store, acme: TenantInfo) -> None:
    store.call_records.add(record(acme, "dup@host"))
    batch = [record(acme, "new@host"), record(acme, "dup@host"), record(acme, "other@host")]
    with pytest.raises(IntegrityError):
        store.call_records.add_many(batch)
    assert [r.call_id for r in store.call_records.list(acme.id)] == ["dup@host"]


def test_add_many_inside_a_transaction_commits_with_it(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.call_records.add_many([record(acme, "x@host"), record(acme, "y@host")])
        raise RuntimeError("abandon")
    assert store.call_records.list(acme.id) == []

    with store.transaction() as tx:
        tx.call_records.add_many([record(acme, "x@host"), record(acme, "y@host")])
    assert len(store.call_records.list(acme.id)) == 2
