"""The provider's carriers in every tenant's dial plan, after the tenant's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from centralita.carriers.inbound import PROVIDER
from centralita.config.dialplan import CarrierConfig, DialPlan
from centralita.directory import Directory
from centralita.store import Store

UPSTREAM = CarrierConfig.model_validate({"name": "upstream", "source": "203.0.113.7"})
BACKUP = CarrierConfig.model_validate(
    {"name": "backup", "register": {"server": "192.0.2.50", "username": "pbx", "password": "pw"}}
)


def carrier(name: str, source: str) -> dict[str, Any]:
    return {"name": name, "source": source}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'carriers.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def tenants(store: Store) -> tuple[int, int]:
    acme = store.tenants.add("acme", "acme.test")
    globex = store.tenants.add("globex", "globex.test")
    own = DialPlan.model_validate(
        {
            "country": "ES",
            "carriers": [carrier("own", "198.51.100.1")],
            "numbers": [{"number": "+34910000000", "destination": {"hangup": True}}],
        }
    )
    store.dialplans.put(acme.id, own)
    return acme.id, globex.id


def test_provider_carriers_follow_the_tenants_own(store: Store, tenants: tuple[int, int]) -> None:
    acme, _ = tenants
    directory = Directory(store, carriers=[UPSTREAM, BACKUP])
    plan = directory.dial_plan(acme)
    assert plan is not None
    assert [c.name for c in plan.carriers] == ["own", "upstream", "backup"]
    assert plan.carriers[1] is UPSTREAM  # the very instance: identify() tells them apart
    assert plan.carrier("backup") is BACKUP
    # The rest of the plan is the stored one.
    assert plan.country == "ES" and plan.virtual_number("+34910000000") is not None


def test_a_tenant_without_a_plan_gets_just_the_provider_carriers(
    store: Store, tenants: tuple[int, int]
) -> None:
    _, globex = tenants
    assert Directory(store).dial_plan(globex) is None
    plan = Directory(store, carriers=[UPSTREAM]).dial_plan(globex)
    assert plan is not None
    assert plan.carriers == [UPSTREAM] and plan.numbers == [] and plan.country is None


def test_every_tenant_has_a_plan_once_the_provider_has_carriers(
    store: Store, tenants: tuple[int, int]
) -> None:
    acme, globex = tenants
    assert Directory(store).tenants_with_plans() == [acme]
    assert Directory(store, carriers=[UPSTREAM]).tenants_with_plans() == [acme, globex]


def test_a_tenant_carrier_of_the_same_name_replaces_the_providers(
    store: Store, tenants: tuple[int, int]
) -> None:
    _, globex = tenants
    store.dialplans.put(
        globex, DialPlan.model_validate({"carriers": [carrier("upstream", "192.0.2.99")]})
    )
    plan = Directory(store, carriers=[UPSTREAM, BACKUP]).dial_plan(globex)
    assert plan is not None
    assert [(c.name, c.source) for c in plan.carriers] == [
        ("upstream", ["192.0.2.99"]),
        ("backup", None),
    ]


def test_a_national_provider_carrier_joins_a_plan_without_a_country(
    store: Store, tenants: tuple[int, int]
) -> None:
    _, globex = tenants
    national = UPSTREAM.model_copy(update={"number_format": "national"})
    plan = Directory(store, carriers=[national]).dial_plan(globex)
    assert plan is not None and plan.carriers == [national]


def test_carriers_by_owner_lists_each_carrier_once(store: Store, tenants: tuple[int, int]) -> None:
    acme, _ = tenants
    directory = Directory(store, carriers=[UPSTREAM, BACKUP])
    owners = directory.carriers_by_owner()
    assert owners == {PROVIDER: [UPSTREAM, BACKUP], acme: [owners[acme][0]]}
    assert owners[acme][0].name == "own"


def test_setting_the_provider_carriers_takes_effect_at_once(
    store: Store, tenants: tuple[int, int]
) -> None:
    acme, _ = tenants
    directory = Directory(store)
    before = directory.dial_plan(acme)
    assert before is not None and [c.name for c in before.carriers] == ["own"]
    directory.set_provider_carriers([UPSTREAM])
    after = directory.dial_plan(acme)
    assert after is not None and [c.name for c in after.carriers] == ["own", "upstream"]
    assert directory.provider_carriers == (UPSTREAM,)


def test_provider_carrier_names_must_be_unique(store: Store) -> None:
    with pytest.raises(ValueError, match="repeat"):
        Directory(store, carriers=[UPSTREAM, UPSTREAM])


def test_the_tenants_with_plans_are_cached_like_tenants(store: Store) -> None:
    """Every unauthenticated INVITE asks whether it is a carrier's: the list is not read
    from the store each time, and a plan applied is seen once the cache expires."""
    now = [0.0]
    directory = Directory(store, clock=lambda: now[0])
    acme = store.tenants.add("acme", "acme.test")
    assert directory.tenants_with_plans() == []
    store.dialplans.put(acme.id, DialPlan())
    assert directory.tenants_with_plans() == []  # still the cached answer
    now[0] += 6.0
    assert directory.tenants_with_plans() == [acme.id]
