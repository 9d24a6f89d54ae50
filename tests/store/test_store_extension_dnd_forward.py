"""Do-not-disturb and the unconditional forward a user sets from the phone (migration 0006)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from centralita.sip.address import Address
from centralita.store import Binding, ExtensionNotFound, Store, TenantInfo
from centralita.store.engine import create_store_engine
from centralita.store.migrate import alembic_config, current_revision, upgrade


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    tenant = store.tenants.add("acme", "acme.test")
    for number in ("101", "102", "103"):
        store.extensions.add(tenant.id, number, password=f"s3cret-{number}")
    return tenant


def test_new_extensions_take_their_calls(store: Store, acme: TenantInfo) -> None:
    info = store.extensions.get(acme.id, "101")
    assert info is not None
    assert (info.dnd, info.forward_to) == (False, None)


def test_dnd_is_set_and_cleared(store: Store, acme: TenantInfo) -> None:
    assert store.extensions.set_dnd(acme.id, "101", True).dnd is True
    assert [(e.number, e.dnd) for e in store.extensions.list(acme.id)] == [
        ("101", True),
        ("102", False),
        ("103", False),
    ]
    # Other updates leave it alone.
    assert store.extensions.update(acme.id, "101", name="Alice").dnd is True
    assert store.extensions.set_dnd(acme.id, "101", False).dnd is False


def test_forward_to_an_extension_or_a_number(store: Store, acme: TenantInfo) -> None:
    assert store.extensions.set_forward(acme.id, "101", "102").forward_to == "102"
    assert store.extensions.set_forward(acme.id, "102", "+34600111222").forward_to == (
        "+34600111222"
    )
    info = store.extensions.get(acme.id, "102")
    assert info is not None and info.forward_to == "+34600111222"
    assert store.extensions.update(acme.id, "101", call_waiting=True).forward_to == "102"
    assert store.extensions.set_forward(acme.id, "101", None).forward_to is None


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("101", ValueError, "extension '101' cannot forward to itself"),
        ("+0123", ValueError, "forward target '+0123' is not an E.164 number"),
        ("+3460011122233344", ValueError, "is not an E.164 number"),  # 16 digits
        ("150", ExtensionNotFound, "unknown extension '150' in tenant 'acme'"),
    ],
)
def test_bad_forward_targets_are_refused(
    store: Store, acme: TenantInfo, target: str, error: type[Exception], message: str
) -> None:
    store.extensions.set_forward(acme.id, "101", "103")
    with pytest.raises(error, match=message.replace("+", r"\+")):
        store.extensions.set_forward(acme.id, "101", target)
    info = store.extensions.get(acme.id, "101")
    assert info is not None and info.forward_to == "103"


def test_unknown_extension_or_tenant(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(ExtensionNotFound, match="unknown extension '199'"):
        store.extensions.set_dnd(acme.id, "199", True)
    with pytest.raises(ExtensionNotFound, match="unknown extension '199'"):
        store.extensions.set_forward(acme.id, "199", None)


def test_removing_an_extension_clears_forwards_to_it(store: Store, acme: TenantInfo) -> None:
    other = store.tenants.add("other", "other.test")
    store.extensions.add(other.id, "101", password="s3cret-101")
    store.extensions.add(other.id, "102", password="s3cret-102")
    store.extensions.set_forward(other.id, "101", "102")
    store.extensions.set_forward(acme.id, "101", "102")
    store.extensions.set_forward(acme.id, "103", "102")
    store.extensions.remove(acme.id, "102")
    assert [(e.number, e.forward_to) for e in store.extensions.list(acme.id)] == [
        ("101", None),
        ("103", None),
    ]
    kept = store.extensions.get(other.id, "101")  # another tenant's 102 is another extension
    assert kept is not None and kept.forward_to == "102"


def test_upgrade_from_0005_keeps_extensions_and_registrations(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tenants (id, name, domain, is_default, created_at)"
                    " VALUES (7, 'acme', 'acme.test', false, CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO extensions (id, tenant_id, number, display_name, call_waiting,"
                    " created_at, srtp, record_calls)"
                    " VALUES (3, 7, '101', 'Alice', true, CURRENT_TIMESTAMP, 'optional', true)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO registrations (tenant_id, number, contact, received_transport,"
                    " received_host, received_port, expires_at, call_id, cseq)"
                    " VALUES (7, '101', '<sip:101@192.0.2.1>', 'udp', '192.0.2.1', 5060,"
                    " 4102444800, 'abc', 1)"
                )
            )
        upgrade(engine, "0006")
        with engine.connect() as connection:
            assert current_revision(connection) == "0006"
    finally:
        engine.dispose()
    with Store.open(database_url) as store:
        info = store.extensions.get(7, "101")
        assert info is not None
        assert (info.name, info.call_waiting, info.srtp, info.record_calls) == (
            "Alice",
            True,
            "optional",
            True,
        )
        assert (info.dnd, info.forward_to) == (False, None)
        assert len(store.registrations.get_bindings(7, "101", 0.0)) == 1
        store.extensions.set_dnd(7, "101", True)


def test_downgrade_to_0005_keeps_extensions_and_registrations(database_url: str) -> None:
    with Store.open(database_url) as store:
        acme = store.tenants.add("acme", "acme.test")
        store.extensions.add(acme.id, "101", password="s3cret-101", name="Alice")
        store.extensions.add(acme.id, "102", password="s3cret-102")
        store.extensions.set_dnd(acme.id, "101", True)
        store.extensions.set_forward(acme.id, "102", "101")
        contact = "<sip:101@192.0.2.1>"
        received = Address("udp", "192.0.2.1", 5060)
        store.registrations.upsert_binding(
            Binding(acme.id, "101", contact, received, 4102444800.0, "abc", 1)
        )
        with store.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0005")
        with store.engine.connect() as connection:
            assert current_revision(connection) == "0005"
            columns = connection.execute(text("SELECT * FROM extensions")).keys()
            assert "dnd" not in columns and "forward_to" not in columns
            names = connection.execute(text("SELECT number, display_name FROM extensions"))
            assert sorted(names) == [("101", "Alice"), ("102", None)]
            contacts = connection.execute(text("SELECT number, contact FROM registrations"))
            assert list(contacts) == [("101", contact)]
