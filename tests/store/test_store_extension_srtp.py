"""The extensions' SRTP policy column (migration 0002)."""

from __future__ import annotations

import pytest

from centralita.store import Store, TenantInfo


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


def test_srtp_policy_defaults_to_off_and_is_updated(store: Store, acme: TenantInfo) -> None:
    assert store.extensions.add(acme.id, "101", password="s3cret-101").srtp == "off"
    store.extensions.add(acme.id, "102", password="s3cret-102", srtp="required")
    assert store.extensions.update(acme.id, "101", srtp="optional").srtp == "optional"
    assert store.extensions.update(acme.id, "101", name="Alice").srtp == "optional"
    assert [(e.number, e.srtp) for e in store.extensions.list(acme.id)] == [
        ("101", "optional"),
        ("102", "required"),
    ]


def test_srtp_policy_outside_the_three_is_refused(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(ValueError, match="SRTP policy"):
        store.extensions.add(acme.id, "101", password="s3cret-101", srtp="always")  # type: ignore[arg-type]
    assert store.extensions.get(acme.id, "101") is None
