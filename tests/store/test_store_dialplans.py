from __future__ import annotations

import pytest
from sqlalchemy import update

from centralita.config.dialplan import (
    DialPlan,
    ExtensionRouting,
    ToExtension,
    ToHangup,
    VirtualNumberConfig,
)
from centralita.store import AlreadyExists, Store
from centralita.store.dialplans import DialPlanRow


def plan(*numbers: str, timezone: str = "UTC") -> DialPlan:
    return DialPlan(
        timezone=timezone,
        extensions=[ExtensionRouting(number="101")],
        numbers=[
            VirtualNumberConfig(number=n, destination=ToExtension(extension="101")) for n in numbers
        ],
    )


def test_put_then_get_round_trips(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    assert store.dialplans.get(acme.id) is None
    assert store.dialplans.version(acme.id) is None
    stored = store.dialplans.put(acme.id, plan("+34910000000", timezone="Europe/Madrid"))
    assert stored.version == 1
    again = store.dialplans.get(acme.id)
    assert again == plan("+34910000000", timezone="Europe/Madrid")
    assert store.dialplans.get_document(acme.id) == again.model_dump(mode="json")
    assert store.dialplans.list_tenants() == [acme.id]


def test_version_moves_only_on_change(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    first = store.dialplans.put(acme.id, plan("+34910000000"))
    same = store.dialplans.put(acme.id, plan("+34910000000"))
    assert (same.version, same.updated_at) == (1, first.updated_at)
    changed = store.dialplans.put(acme.id, plan("+34910000001"))
    assert changed.version == 2 == store.dialplans.version(acme.id)
    assert changed.updated_at >= first.updated_at
    assert store.dialplans.tenant_for_number("+34910000000") is None
    assert store.dialplans.tenant_for_number("+34910000001") == acme.id


def test_a_number_belongs_to_one_tenant(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    other = store.tenants.add("other", "other.test")
    store.dialplans.put(acme.id, plan("+34910000000"))
    with pytest.raises(AlreadyExists, match="already belongs to tenant 'acme'"):
        store.dialplans.put(other.id, plan("+34910000000"))
    assert store.dialplans.get(other.id) is None
    assert store.dialplans.tenant_for_number("+34910000000") == acme.id


def test_remove_and_tenant_removal_forget_the_plan(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    store.dialplans.put(acme.id, plan("+34910000000"))
    assert store.dialplans.remove(acme.id) is True
    assert store.dialplans.remove(acme.id) is False
    assert store.dialplans.tenant_for_number("+34910000000") is None
    store.dialplans.put(acme.id, plan("+34910000000"))
    store.tenants.remove("acme")
    assert store.dialplans.tenant_for_number("+34910000000") is None
    assert store.dialplans.list_tenants() == []


def test_a_stored_document_is_validated_when_read(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    store.dialplans.put(acme.id, plan())
    broken = plan().model_dump(mode="json")
    broken["numbers"] = [{"number": "+34910000000", "destination": {"extension": "999"}}]
    with store.transaction() as tx, tx.dialplans._unit.write() as session:
        session.execute(update(DialPlanRow).values(document=broken))
    with pytest.raises(ValueError, match="no extension 999"):
        store.dialplans.get(acme.id)


def test_hangup_destination_is_a_singleton_value(store: Store) -> None:
    acme = store.tenants.add("acme", "acme.test")
    routed = DialPlan(
        extensions=[ExtensionRouting(number="101")],
        numbers=[VirtualNumberConfig(number="+34910000000", destination=ToHangup(hangup=True))],
    )
    store.dialplans.put(acme.id, routed)
    got = store.dialplans.get(acme.id)
    assert got is not None and got.numbers[0].destination == ToHangup(hangup=True)
