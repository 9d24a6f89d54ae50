"""The directory's tenant cache: lookups by domain are answered from memory for a few seconds,
then read again from the store, so administration changes reach the SIP side within the TTL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from centralita.directory import TENANT_CACHE_ENTRIES, Directory
from centralita.store import Store


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'directory.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def directory(store: Store, clock: FakeClock) -> Directory:
    return Directory(store, tenant_ttl=5.0, clock=clock)


def test_tenant_by_domain_is_served_from_memory_within_the_ttl(
    store: Store, directory: Directory, clock: FakeClock
) -> None:
    store.tenants.add("acme", "acme.test")
    first = directory.tenant_by_domain("acme.test")
    assert first is not None and first.name == "acme"

    store.tenants.set_domain("acme", "acme.example")
    clock.now += 4.9
    assert directory.tenant_by_domain("acme.test") == first

    clock.now += 0.2
    assert directory.tenant_by_domain("acme.test") is None
    moved = directory.tenant_by_domain("acme.example")
    assert moved is not None and moved.id == first.id


def test_domains_share_an_entry_whatever_their_case_or_final_dot(
    store: Store, directory: Directory
) -> None:
    store.tenants.add("acme", "acme.test")
    first = directory.tenant_by_domain("ACME.Test.")
    store.tenants.remove("acme")
    assert first is not None
    assert directory.tenant_by_domain("acme.test") == first


def test_an_unknown_domain_is_cached_until_the_ttl_passes(
    store: Store, directory: Directory, clock: FakeClock
) -> None:
    assert directory.tenant_by_domain("new.test") is None
    store.tenants.add("new", "new.test")
    assert directory.tenant_by_domain("new.test") is None

    clock.now += 5.0
    found = directory.tenant_by_domain("new.test")
    assert found is not None and found.name == "new"


def test_the_default_tenant_is_cached_for_the_ttl(
    store: Store, directory: Directory, clock: FakeClock
) -> None:
    store.tenants.add("acme", "acme.test", is_default=True)
    store.tenants.add("beta", "beta.test")
    first = directory.default_tenant()
    assert first is not None and first.name == "acme"

    store.tenants.set_default("beta")
    assert directory.default_tenant() == first
    clock.now += 5.0
    after = directory.default_tenant()
    assert after is not None and after.name == "beta"


def test_the_cache_starts_over_instead_of_growing_without_bound(
    store: Store, directory: Directory
) -> None:
    store.tenants.add("acme", "acme.test")
    assert directory.tenant_by_domain("acme.test") is not None
    store.tenants.remove("acme")
    for n in range(TENANT_CACHE_ENTRIES):
        assert directory.tenant_by_domain(f"scan{n}.test") is None
    # The flood pushed acme's entry out, so the next lookup reads the store again.
    assert directory.tenant_by_domain("acme.test") is None
