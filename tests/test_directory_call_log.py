"""The directory's per-call database work: credentials in one query, and the call log written
in line by default or handed to a background writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from centralita.directory import Directory
from centralita.records.outcome import CallSummary, Outcome
from centralita.records.writer import CallLogWriter
from centralita.sip.auth import ha1
from centralita.store import AlreadyExists, Store, TenantInfo

STARTED = 1_772_355_600.0  # 2026-03-01 09:00:00 UTC


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'directory.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    tenant = store.tenants.add("acme", "acme.test")
    store.extensions.add(tenant.id, "101", password="s3cret", name="Ana", call_waiting=True)
    store.extensions.add(tenant.id, "102", password="other")
    return tenant


def summary(tenant: TenantInfo, call_id: str = "c1@acme.test") -> CallSummary:
    return CallSummary(
        tenant_id=tenant.id,
        call_id=call_id,
        caller="101",
        caller_name="Ana",
        callee="102",
        callee_name="102",
        callee_is_extension=True,
        started_at=STARTED,
        answered_at=STARTED + 3.0,
        ended_at=STARTED + 63.0,
        outcome=Outcome.ANSWERED,
        hangup_cause="normal",
        answered_by="102",
        routing_trace=[{"step": "extension", "number": "102"}],
    )


def test_credentials_give_the_ha1_and_the_extension_from_one_query(
    store: Store, acme: TenantInfo
) -> None:
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", seen)
    found = Directory(store).credentials(acme.id, "101", "SHA-256")
    assert found is not None
    assert found.ha1 == ha1("101", "acme.test", "s3cret", "SHA-256")
    extension = found.extension
    assert (extension.number, extension.name, extension.call_waiting) == ("101", "Ana", True)
    assert len([s for s in statements if "FROM extensions" in s]) == 1


def test_no_credentials_for_an_unknown_extension(store: Store, acme: TenantInfo) -> None:
    assert Directory(store).credentials(acme.id, "199", "MD5") is None


def test_without_a_writer_the_rows_are_written_before_call_ended_returns(
    store: Store, acme: TenantInfo
) -> None:
    directory = Directory(store)
    directory.call_ended(summary(acme))
    rows = store.call_records.list_for_call(acme.id, "c1@acme.test")
    assert [(r.owner, r.status) for r in rows] == [("101", "answered_out"), ("102", "answered_in")]
    assert rows[0].started_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert (rows[0].wait_seconds, rows[0].talk_seconds) == (3.0, 60.0)
    with pytest.raises(AlreadyExists):
        directory.call_ended(summary(acme))


def test_with_a_writer_call_ended_leaves_the_rows_to_its_thread(
    store: Store, acme: TenantInfo
) -> None:
    writer = CallLogWriter(store, batch_size=200, flush_interval=3600.0)
    writing = threading.get_ident()
    writers: set[int] = set()
    event.listen(store.engine, "commit", lambda _c: writers.add(threading.get_ident()))
    directory = Directory(store, writer=writer)
    directory.call_ended(summary(acme, "c1@acme.test"))
    directory.call_ended(summary(acme, "c2@acme.test"))
    assert writers == set()  # nothing written on the caller's thread
    writer.close()
    assert writing not in writers and len(writers) == 1
    rows = store.call_records.list(acme.id)
    assert sorted((r.call_id, r.owner) for r in rows) == [
        ("c1@acme.test", "101"),
        ("c1@acme.test", "102"),
        ("c2@acme.test", "101"),
        ("c2@acme.test", "102"),
    ]
