from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from centralita.store import AlreadyExists, ExtensionNotFound, Store, TenantInfo, TenantNotFound
from centralita.store.models import Extension


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


def test_add_stores_digest_ha1_values_with_the_domain_as_realm(
    store: Store, acme: TenantInfo
) -> None:
    added = store.extensions.add(acme.id, "101", password="s3cret-101", name="Alice")
    assert (added.number, added.name, added.call_waiting) == ("101", "Alice", False)
    assert added.has_credentials
    expected_md5 = hashlib.md5(b"101:acme.test:s3cret-101").hexdigest()
    expected_sha = hashlib.sha256(b"101:acme.test:s3cret-101").hexdigest()
    assert store.extensions.get_ha1(acme.id, "101", "MD5") == expected_md5
    assert store.extensions.get_ha1(acme.id, "101", "md5-sess") == expected_md5
    assert store.extensions.get_ha1(acme.id, "101", "SHA-256") == expected_sha
    assert store.extensions.get_ha1(acme.id, "101", "SHA-256-sess") == expected_sha


def test_the_password_itself_is_never_stored(
    store: Store, acme: TenantInfo, database_url: str
) -> None:
    password = "Unmistakable-Password-4711"
    store.extensions.add(acme.id, "101", password=password, name="Alice")
    store.extensions.update(acme.id, "101", password=password + "-2")
    with store.engine.connect() as connection:
        row = connection.execute(select(Extension.__table__)).one()
    assert all(password not in str(value) for value in row)
    if database_url.startswith("sqlite:///"):
        for path in Path(database_url.removeprefix("sqlite:///")).parent.iterdir():
            assert password.encode() not in path.read_bytes()


def test_get_ha1_of_unknown_extension_or_algorithm(store: Store, acme: TenantInfo) -> None:
    assert store.extensions.get_ha1(acme.id, "999", "MD5") is None
    with pytest.raises(ValueError, match="unsupported digest algorithm"):
        store.extensions.get_ha1(acme.id, "101", "SHA-512")


def test_numbers_are_unique_within_a_tenant_only(store: Store, acme: TenantInfo) -> None:
    beta = store.tenants.add("beta", "beta.test")
    store.extensions.add(acme.id, "101", password="password-a")
    store.extensions.add(beta.id, "101", password="password-b")
    with pytest.raises(AlreadyExists, match="'101' already exists in 'acme'"):
        store.extensions.add(acme.id, "101", password="password-c")
    # Same number, different realm and password: different HA1.
    assert store.extensions.get_ha1(acme.id, "101", "MD5") != store.extensions.get_ha1(
        beta.id, "101", "MD5"
    )


def test_add_to_unknown_tenant(store: Store) -> None:
    with pytest.raises(TenantNotFound):
        store.extensions.add(424242, "101", password="password-a")


def test_update_changes_only_what_is_given(store: Store, acme: TenantInfo) -> None:
    store.extensions.add(acme.id, "101", password="old-password", name="Alice")
    old_ha1 = store.extensions.get_ha1(acme.id, "101", "MD5")
    renamed = store.extensions.update(acme.id, "101", name="Alice Smith", call_waiting=True)
    assert (renamed.name, renamed.call_waiting) == ("Alice Smith", True)
    assert store.extensions.get_ha1(acme.id, "101", "MD5") == old_ha1
    store.extensions.update(acme.id, "101", password="new-password")
    assert store.extensions.password_matches(acme.id, "101", "new-password")
    assert not store.extensions.password_matches(acme.id, "101", "old-password")
    assert store.extensions.get(acme.id, "101") == renamed
    cleared = store.extensions.update(acme.id, "101", name=None)
    assert cleared.name is None


def test_list_and_remove(store: Store, acme: TenantInfo) -> None:
    for number in ("103", "101", "102"):
        store.extensions.add(acme.id, number, password=f"password-{number}")
    assert [e.number for e in store.extensions.list(acme.id)] == ["101", "102", "103"]
    store.extensions.remove(acme.id, "102")
    assert [e.number for e in store.extensions.list(acme.id)] == ["101", "103"]
    assert store.extensions.get(acme.id, "102") is None


def test_unknown_extension_errors_name_tenant_and_number(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(ExtensionNotFound, match="unknown extension '555' in tenant 'acme'"):
        store.extensions.remove(acme.id, "555")
    with pytest.raises(ExtensionNotFound):
        store.extensions.update(acme.id, "555", name="Nobody")
    assert not store.extensions.password_matches(acme.id, "555", "whatever-pw")
