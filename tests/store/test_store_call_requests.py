"""Call requests: the queue between ``centralita ivr record-greeting`` and the server workers
(migration 0007)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text

from centralita.store import Store, TenantInfo
from centralita.store.call_requests import EXPIRED, CallRequestNotFound
from centralita.store.engine import create_store_engine
from centralita.store.migrate import alembic_config, current_revision, upgrade

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


def test_a_request_is_added_pending(store: Store, acme: TenantInfo) -> None:
    added = store.call_requests.add(acme.id, "101", "record_greeting", "main", now=T0)
    assert added.id > 0
    assert (added.extension, added.action, added.argument) == ("101", "record_greeting", "main")
    assert added.created_at == T0
    assert (added.taken_at, added.finished_at, added.result) == (None, None, None)
    assert not added.finished
    assert store.call_requests.get(added.id) == added


def test_unknown_actions_are_refused(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(ValueError, match="launch_rocket"):
        store.call_requests.add(acme.id, "101", "launch_rocket", "")


def test_take_pending_claims_oldest_first_and_only_once(store: Store, acme: TenantInfo) -> None:
    first = store.call_requests.add(acme.id, "101", "record_greeting", "main", now=T0)
    second = store.call_requests.add(
        acme.id, "102", "record_greeting", "sales", now=T0 + timedelta(seconds=1)
    )
    now = T0 + timedelta(seconds=5)
    taken = store.call_requests.take_pending(1, now=now)
    assert [r.id for r in taken] == [first.id]
    assert taken[0].taken_at == now
    assert [r.id for r in store.call_requests.take_pending(10, now=now)] == [second.id]
    assert store.call_requests.take_pending(10, now=now) == []


def test_finish_records_the_result(store: Store, acme: TenantInfo) -> None:
    added = store.call_requests.add(acme.id, "101", "record_greeting", "main", now=T0)
    store.call_requests.take_pending(now=T0)
    done = store.call_requests.finish(added.id, "saved", now=T0 + timedelta(seconds=30))
    assert done.finished and done.result == "saved"
    assert done.finished_at == T0 + timedelta(seconds=30)
    assert store.call_requests.get(added.id) == done
    with pytest.raises(CallRequestNotFound):
        store.call_requests.finish(added.id + 100, "saved")


def test_stale_requests_expire_instead_of_running(store: Store, acme: TenantInfo) -> None:
    old = store.call_requests.add(acme.id, "101", "record_greeting", "main", now=T0)
    fresh = store.call_requests.add(
        acme.id, "101", "record_greeting", "main", now=T0 + timedelta(minutes=2)
    )
    now = T0 + timedelta(minutes=2, seconds=30)
    assert [r.id for r in store.call_requests.take_pending(now=now)] == [fresh.id]
    expired = store.call_requests.get(old.id)
    assert expired is not None and expired.finished and expired.result == EXPIRED


def test_several_workers_never_take_the_same_request(database_url: str) -> None:
    """Four "workers", each with its own store (own connections), poll at once."""
    with Store.open(database_url) as store:
        tenant = store.tenants.add("acme", "acme.test")
        added = {
            store.call_requests.add(tenant.id, str(100 + i), "record_greeting", "main").id
            for i in range(40)
        }
    workers = [Store.open(database_url) for _ in range(4)]
    taken: list[list[int]] = [[] for _ in workers]
    start = threading.Barrier(len(workers))

    def poll(index: int) -> None:
        start.wait()
        while True:
            got = workers[index].call_requests.take_pending(3)
            if not got:
                return
            taken[index].extend(r.id for r in got)

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for worker in workers:
        worker.close()
    every = [request_id for ids in taken for request_id in ids]
    assert sorted(every) == sorted(added)  # each taken once, none lost
    assert len(set(every)) == len(every)


def test_removing_the_tenant_removes_its_requests(store: Store, acme: TenantInfo) -> None:
    added = store.call_requests.add(acme.id, "101", "record_greeting", "main")
    store.tenants.remove("acme")
    assert store.call_requests.get(added.id) is None


def test_upgrade_from_0006_adds_the_table_and_keeps_tenants(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        upgrade(engine, "0006")
        assert "call_requests" not in inspect(engine).get_table_names()
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tenants (id, name, domain, is_default, created_at)"
                    " VALUES (7, 'acme', 'acme.test', false, CURRENT_TIMESTAMP)"
                )
            )
        upgrade(engine)
        with engine.connect() as connection:
            assert current_revision(connection) == "0007"
        assert "call_requests" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    with Store.open(database_url) as store:
        added = store.call_requests.add(7, "101", "record_greeting", "main")
        assert store.call_requests.get(added.id) == added


def test_downgrade_to_0006_drops_only_the_table(database_url: str) -> None:
    with Store.open(database_url) as store:
        acme = store.tenants.add("acme", "acme.test")
        store.call_requests.add(acme.id, "101", "record_greeting", "main")
        with store.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0006")
        assert "call_requests" not in inspect(store.engine).get_table_names()
        assert [t.name for t in store.tenants.list()] == ["acme"]
