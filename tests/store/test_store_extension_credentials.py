"""The digest HA1 and the extension, from one query."""

from __future__ import annotations

import pytest

from centralita.sip.auth import ha1
from centralita.store import Store, TenantInfo


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


@pytest.mark.parametrize(
    ("algorithm", "base"),
    [("MD5", "MD5"), ("SHA-256", "SHA-256"), ("md5-sess", "MD5"), ("SHA-256-sess", "SHA-256")],
)
def test_credentials_carry_the_ha1_of_the_algorithm_and_the_extension(
    store: Store, acme: TenantInfo, algorithm: str, base: str
) -> None:
    added = store.extensions.add(
        acme.id, "101", password="s3cret", name="Ana", call_waiting=True, srtp="optional"
    )
    found = store.extensions.get_credentials(acme.id, "101", algorithm)
    assert found is not None
    assert found.ha1 == ha1("101", "acme.test", "s3cret", base)
    assert found.ha1 == store.extensions.get_ha1(acme.id, "101", algorithm)
    assert found.extension == added == store.extensions.get(acme.id, "101")


def test_no_credentials_for_an_unknown_extension_or_tenant(store: Store, acme: TenantInfo) -> None:
    store.extensions.add(acme.id, "101", password="s3cret")
    other = store.tenants.add("beta", "beta.test")
    assert store.extensions.get_credentials(acme.id, "102", "MD5") is None
    assert store.extensions.get_credentials(other.id, "101", "MD5") is None


def test_no_credentials_once_the_realm_changed(store: Store, acme: TenantInfo) -> None:
    store.extensions.add(acme.id, "101", password="s3cret")
    store.tenants.set_domain("acme", "acme.example")
    assert store.extensions.get_ha1(acme.id, "101", "MD5") is None
    assert store.extensions.get_credentials(acme.id, "101", "MD5") is None


def test_an_unsupported_algorithm_is_an_error(store: Store, acme: TenantInfo) -> None:
    store.extensions.add(acme.id, "101", password="s3cret")
    with pytest.raises(ValueError, match="unsupported digest algorithm"):
        store.extensions.get_credentials(acme.id, "101", "SHA-512-256")
