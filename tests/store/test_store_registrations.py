from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from centralita.sip.address import Address
from centralita.store import Binding, Store, TenantInfo


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    tenant = store.tenants.add("acme", "acme.test")
    for number in ("101", "102"):
        store.extensions.add(tenant.id, number, password=f"password-{number}")
    return tenant


def binding(tenant: TenantInfo, contact: str, **changes: object) -> Binding:
    base = Binding(
        tenant_id=tenant.id,
        number="101",
        contact=contact,
        received=Address("udp", "203.0.113.7", 40123),
        expires_at=1_000.0,
        call_id="reg-call-id",
        cseq=1,
        user_agent="baresip",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_upsert_then_get_round_trips(store: Store, acme: TenantInfo) -> None:
    original = binding(
        acme, "sip:101@10.0.0.5:5060", q=0.5, instance_id="<urn:uuid:1234>", reg_id=1
    )
    store.registrations.upsert_binding(original)
    assert store.registrations.get_bindings(acme.id, "101", now=500.0) == [original]
    assert original.received.connection is None
    assert original.expires_in(now=400.5) == 599


def test_upsert_refreshes_the_same_contact(store: Store, acme: TenantInfo) -> None:
    store.registrations.upsert_binding(binding(acme, "sip:101@10.0.0.5"))
    refreshed = binding(acme, "sip:101@10.0.0.5", expires_at=5_000.0, cseq=2)
    store.registrations.upsert_binding(refreshed)
    assert store.registrations.get_bindings(acme.id, "101", now=0.0) == [refreshed]


def test_expired_bindings_are_not_returned_and_can_be_purged(
    store: Store, acme: TenantInfo
) -> None:
    store.registrations.upsert_binding(binding(acme, "sip:a@10.0.0.1", expires_at=100.0))
    store.registrations.upsert_binding(binding(acme, "sip:b@10.0.0.2", expires_at=300.0))
    live = store.registrations.get_bindings(acme.id, "101", now=100.0)
    assert [b.contact for b in live] == ["sip:b@10.0.0.2"]
    assert store.registrations.purge_expired(now=100.0) == 1
    assert store.registrations.purge_expired(now=100.0) == 0
    assert len(store.registrations.get_bindings(acme.id, "101", now=0.0)) == 1


def test_bindings_come_highest_q_first(store: Store, acme: TenantInfo) -> None:
    store.registrations.upsert_binding(binding(acme, "sip:low@h", q=0.1))
    store.registrations.upsert_binding(binding(acme, "sip:none@h"))
    store.registrations.upsert_binding(binding(acme, "sip:mid@h", q=0.7))
    contacts = [b.contact for b in store.registrations.get_bindings(acme.id, "101", now=0.0)]
    assert contacts == ["sip:none@h", "sip:mid@h", "sip:low@h"]


def test_replace_bindings_swaps_the_whole_set(store: Store, acme: TenantInfo) -> None:
    store.registrations.upsert_binding(binding(acme, "sip:old@h"))
    store.registrations.upsert_binding(binding(acme, "sip:other@h", number="102"))
    new = [binding(acme, "sip:new1@h"), binding(acme, "sip:new2@h")]
    store.registrations.replace_bindings(acme.id, "101", new)
    got = store.registrations.get_bindings(acme.id, "101", now=0.0)
    assert sorted(b.contact for b in got) == ["sip:new1@h", "sip:new2@h"]
    assert len(store.registrations.get_bindings(acme.id, "102", now=0.0)) == 1


def test_replace_bindings_is_all_or_nothing(store: Store, acme: TenantInfo) -> None:
    store.registrations.upsert_binding(binding(acme, "sip:old@h"))
    duplicated = [binding(acme, "sip:dup@h"), binding(acme, "sip:dup@h")]
    with pytest.raises(IntegrityError):
        store.registrations.replace_bindings(acme.id, "101", duplicated)
    got = store.registrations.get_bindings(acme.id, "101", now=0.0)
    assert [b.contact for b in got] == ["sip:old@h"]
    with pytest.raises(ValueError, match="not for"):
        store.registrations.replace_bindings(acme.id, "101", [binding(acme, "x", number="102")])


def test_remove_one_and_remove_all(store: Store, acme: TenantInfo) -> None:
    for contact in ("sip:a@h", "sip:b@h", "sip:c@h"):
        store.registrations.upsert_binding(binding(acme, contact))
    assert store.registrations.remove_binding(acme.id, "101", "sip:b@h") is True
    assert store.registrations.remove_binding(acme.id, "101", "sip:b@h") is False
    assert store.registrations.remove_bindings(acme.id, "101") == 2
    assert store.registrations.get_bindings(acme.id, "101", now=0.0) == []


def test_bindings_need_an_existing_extension(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(IntegrityError):
        store.registrations.upsert_binding(binding(acme, "sip:x@h", number="999"))


def test_removing_the_extension_removes_its_bindings(store: Store, acme: TenantInfo) -> None:
    store.registrations.upsert_binding(binding(acme, "sip:a@h"))
    store.extensions.remove(acme.id, "101")
    store.extensions.add(acme.id, "101", password="password-101")
    assert store.registrations.get_bindings(acme.id, "101", now=0.0) == []


def test_tenants_do_not_see_each_others_bindings(store: Store, acme: TenantInfo) -> None:
    beta = store.tenants.add("beta", "beta.test")
    store.extensions.add(beta.id, "101", password="password-101")
    store.registrations.upsert_binding(binding(acme, "sip:acme-phone@h"))
    store.registrations.upsert_binding(binding(beta, "sip:beta-phone@h"))
    acme_contacts = [b.contact for b in store.registrations.get_bindings(acme.id, "101", 0.0)]
    assert acme_contacts == ["sip:acme-phone@h"]


def test_connection_ids_are_not_stored(store: Store, acme: TenantInfo) -> None:
    """A connection id means something only inside the worker holding the connection."""
    over_tcp = binding(acme, "sip:101@10.0.0.5;transport=tcp")
    over_tcp = replace(over_tcp, received=Address("tcp", "203.0.113.7", 40123, connection=7))
    store.registrations.upsert_binding(over_tcp)
    (got,) = store.registrations.get_bindings(acme.id, "101", now=0.0)
    assert got.received == Address("tcp", "203.0.113.7", 40123)
    assert got.received.connection is None and got.received.reliable
