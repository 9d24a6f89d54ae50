from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from centralita.sip.address import Address
from centralita.store import (
    AlreadyExists,
    Binding,
    CallRecord,
    Store,
    TenantNotFound,
)


def test_add_and_find_tenant(store: Store) -> None:
    added = store.tenants.add("acme", "ACME.Test.")
    assert added.domain == "acme.test"
    assert added.is_default is False
    assert added.created_at.tzinfo is UTC
    assert store.tenants.get_by_name("acme") == added
    assert store.tenants.get(added.id) == added
    assert store.tenants.get_by_domain("Acme.TEST") == added
    assert store.tenants.get_by_name("other") is None
    assert store.tenants.get_by_domain("other.test") is None


def test_list_is_sorted_by_name(store: Store) -> None:
    store.tenants.add("zeta", "zeta.test")
    store.tenants.add("acme", "acme.test")
    assert [t.name for t in store.tenants.list()] == ["acme", "zeta"]


def test_name_and_domain_are_unique(store: Store) -> None:
    store.tenants.add("acme", "acme.test")
    with pytest.raises(AlreadyExists, match="tenant 'acme' already exists"):
        store.tenants.add("acme", "other.test")
    with pytest.raises(AlreadyExists, match="already belongs to tenant 'acme'"):
        store.tenants.add("other", "ACME.test")
    assert len(store.tenants.list()) == 1


def test_at_most_one_default_tenant(store: Store) -> None:
    store.tenants.add("acme", "acme.test", is_default=True)
    store.tenants.add("beta", "beta.test", is_default=True)
    default = store.tenants.get_default()
    assert default is not None and default.name == "beta"
    assert [t.name for t in store.tenants.list() if t.is_default] == ["beta"]
    store.tenants.set_default("acme")
    assert [t.name for t in store.tenants.list() if t.is_default] == ["acme"]
    store.tenants.set_default(None)
    assert store.tenants.get_default() is None


def test_database_refuses_a_second_default(store: Store) -> None:
    store.tenants.add("acme", "acme.test", is_default=True)
    insert = text(
        "INSERT INTO tenants (name, domain, is_default, created_at) "
        "VALUES ('beta', 'beta.test', :yes, :now)"
    )
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(insert, {"yes": True, "now": datetime.now(UTC)})


def test_set_default_of_unknown_tenant(store: Store) -> None:
    with pytest.raises(TenantNotFound, match="unknown tenant 'ghost'"):
        store.tenants.set_default("ghost")


def test_remove_unknown_tenant_names_it(store: Store) -> None:
    with pytest.raises(TenantNotFound, match="'ghost'"):
        store.tenants.remove("ghost")


def test_removing_a_tenant_removes_what_it_owns(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    beta = store.tenants.add("beta", "beta.test")
    for tenant in (acme, beta):
        store.extensions.add(tenant.id, "101", password="secret-101")
        store.registrations.upsert_binding(
            Binding(
                tenant_id=tenant.id,
                number="101",
                contact="sip:101@192.0.2.1:5060",
                received=Address("udp", "192.0.2.1", 5060),
                expires_at=2000.0,
                call_id="c1",
                cseq=1,
            )
        )
        store.call_records.add(
            CallRecord(
                tenant_id=tenant.id,
                call_id="call-1",
                owner="101",
                direction="outbound",
                caller="101",
                callee="102",
                started_at=datetime(2026, 1, 1, tzinfo=UTC),
                status="missed",
            )
        )
    store.tenants.remove("acme")
    assert store.tenants.get_by_name("acme") is None
    assert store.extensions.list(acme.id) == []
    assert store.registrations.get_bindings(acme.id, "101", now=0.0) == []
    assert store.call_records.get(acme.id, "call-1", "101") is None
    # The other tenant keeps everything.
    assert len(store.extensions.list(beta.id)) == 1
    assert len(store.registrations.get_bindings(beta.id, "101", now=0.0)) == 1
    assert store.call_records.get(beta.id, "call-1", "101") is not None


def test_changing_the_domain_invalidates_the_ha1_values(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    store.extensions.add(acme.id, "101", password="secret-101")
    changed = store.tenants.set_domain("acme", "acme.example")
    assert changed.domain == "acme.example"
    assert store.extensions.get_ha1(acme.id, "101", "MD5") is None
    extension = store.extensions.get(acme.id, "101")
    assert extension is not None and not extension.has_credentials
    store.extensions.update(acme.id, "101", password="secret-101")
    assert store.extensions.password_matches(acme.id, "101", "secret-101")


def test_transaction_commits_together_or_not_at_all(store: Store) -> None:
    with pytest.raises(AlreadyExists), store.transaction() as tx:
        tx.tenants.add("acme", "acme.test")
        tx.tenants.add("beta", "acme.test")
    assert store.tenants.list() == []
    with store.transaction() as tx:
        tx.tenants.add("acme", "acme.test")
        tx.tenants.add("beta", "beta.test")
        assert store.tenants.get_by_name("acme") is None  # not visible before the commit
    assert [t.name for t in store.tenants.list()] == ["acme", "beta"]
