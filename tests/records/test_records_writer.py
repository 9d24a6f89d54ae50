"""The call-log writer: batches, one transaction each, nothing lost on close, and a refused
row or a failing database costs only what failed while the thread goes on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from centralita.records.writer import CallLogWriter
from centralita.store import CallRecord, Store, TenantInfo

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WAIT = 10.0  # seconds a test waits for the thread before it fails


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'writer.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


class Commits:
    """Counts the store's committed transactions; ``wait(n)`` returns once n are seen."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        self._changed = threading.Condition()
        event.listen(store.engine, "commit", self._on_commit)

    def _on_commit(self, _connection: Any) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait(self, n: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= n, timeout=WAIT)


def record(tenant: TenantInfo, n: int, owner: str = "101") -> CallRecord:
    return CallRecord(
        tenant_id=tenant.id,
        call_id=f"call-{n}@acme.test",
        owner=owner,
        direction="inbound",
        caller="+34911000000",
        callee=owner,
        started_at=T0,
        status="answered_in",
    )


def call_ids(store: Store, tenant: TenantInfo) -> set[str]:
    return {r.call_id for r in store.call_records.list(tenant.id, None)}


def test_a_full_batch_is_written_in_one_transaction_without_waiting(
    store: Store, acme: TenantInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    written = threading.Semaphore(0)
    add_many = store.call_records.add_many

    def spy(records: Any) -> None:
        add_many(records)  # one transaction per call (CallRecordRepository.add_many)
        batches.append(len(records))
        written.release()

    monkeypatch.setattr(store.call_records, "add_many", spy)
    writer = CallLogWriter(store, batch_size=3, flush_interval=3600.0)
    try:
        writer.submit([record(acme, n) for n in range(6)])
        # Full batches go out at once: no flush, no waiting for the (hour-long) interval.
        assert written.acquire(timeout=WAIT) and written.acquire(timeout=WAIT)
        assert batches == [3, 3]
        assert call_ids(store, acme) == {f"call-{n}@acme.test" for n in range(6)}
    finally:
        writer.close()


def test_a_partial_batch_is_written_once_the_interval_passes(
    store: Store, acme: TenantInfo
) -> None:
    commits = Commits(store)
    writer = CallLogWriter(store, batch_size=200, flush_interval=0.05)
    try:
        writer.submit([record(acme, 1), record(acme, 1, owner="102")])
        assert commits.wait(1)
        assert len(store.call_records.list_for_call(acme.id, "call-1@acme.test")) == 2
        assert commits.count == 1 + 1
    finally:
        writer.close()


def test_close_writes_everything_still_queued(store: Store, acme: TenantInfo) -> None:
    commits = Commits(store)
    writer = CallLogWriter(store, batch_size=200, flush_interval=3600.0)
    writer.submit([record(acme, n) for n in range(5)])
    writer.close()
    assert not writer.running
    assert commits.count == 1
    assert call_ids(store, acme) == {f"call-{n}@acme.test" for n in range(5)}


def test_records_submitted_after_close_are_written_at_once(store: Store, acme: TenantInfo) -> None:
    writer = CallLogWriter(store)
    writer.close()
    writer.close()  # idempotent
    writer.submit([record(acme, 7)])
    assert writer.flush(WAIT)
    assert call_ids(store, acme) == {"call-7@acme.test"}


def test_flush_waits_for_what_was_submitted_before(store: Store, acme: TenantInfo) -> None:
    writer = CallLogWriter(store, batch_size=200, flush_interval=3600.0)
    try:
        writer.submit([record(acme, 1), record(acme, 2)])
        assert writer.flush(WAIT)
        assert call_ids(store, acme) == {"call-1@acme.test", "call-2@acme.test"}
    finally:
        writer.close()


def test_a_row_already_in_the_log_does_not_lose_the_rest_of_its_batch(
    store: Store, acme: TenantInfo, caplog: pytest.LogCaptureFixture
) -> None:
    first = record(acme, 2)
    store.call_records.add(first)
    writer = CallLogWriter(store, batch_size=200, flush_interval=3600.0)
    duplicate = replace(first, caller="+34600000000")
    with caplog.at_level(logging.WARNING, logger="centralita.records"):
        writer.submit([record(acme, 1), duplicate, record(acme, 3)])
        writer.close()
    assert call_ids(store, acme) == {f"call-{n}@acme.test" for n in (1, 2, 3)}
    kept = store.call_records.get(acme.id, "call-2@acme.test", "101")
    assert kept is not None and kept.caller == "+34911000000"
    messages = [r.getMessage() for r in caplog.records]
    assert "call log batch refused, writing it row by row" in messages
    assert "call record already in the log" in messages


def test_a_database_error_is_logged_and_the_thread_goes_on(
    store: Store, acme: TenantInfo, caplog: pytest.LogCaptureFixture
) -> None:
    # Tenant 999 does not exist: the foreign key refuses the row on the database's side.
    orphan = replace(record(acme, 2), tenant_id=999)
    writer = CallLogWriter(store, batch_size=200, flush_interval=3600.0)
    try:
        with caplog.at_level(logging.WARNING, logger="centralita.records"):
            writer.submit([record(acme, 1), orphan, record(acme, 3)])
            assert writer.flush(WAIT)
        assert call_ids(store, acme) == {"call-1@acme.test", "call-3@acme.test"}
        lost = [r for r in caplog.records if r.getMessage() == "call record not written"]
        assert [r.levelno for r in lost] == [logging.ERROR]

        writer.submit([record(acme, 4)])
        assert writer.flush(WAIT)
        assert writer.running
        assert "call-4@acme.test" in call_ids(store, acme)
    finally:
        writer.close()


def test_an_unexpected_failure_does_not_end_the_thread(
    store: Store, acme: TenantInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_records: object) -> None:
        raise RuntimeError("database went away")

    writer = CallLogWriter(store, batch_size=200, flush_interval=3600.0)
    try:
        monkeypatch.setattr(store.call_records, "add_many", broken)
        monkeypatch.setattr(store.call_records, "add", broken)
        writer.submit([record(acme, 1), record(acme, 2)])
        assert writer.flush(WAIT)
        assert writer.running
        monkeypatch.undo()

        writer.submit([record(acme, 3)])
        assert writer.flush(WAIT)
        assert call_ids(store, acme) == {"call-3@acme.test"}
    finally:
        writer.close()


def test_a_store_on_one_shared_connection_is_refused() -> None:
    with Store.open("sqlite://") as memory:
        assert memory.shares_one_connection
        with pytest.raises(ValueError, match="shared connection"):
            CallLogWriter(memory)
