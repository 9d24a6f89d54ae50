from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from centralita.config import ApplyError, ConfigError, TenantsConfig, apply, parse_model
from centralita.config.dialplan import ToIvr
from centralita.store import Store

VECTOR = Path(__file__).parents[1] / "vectors" / "config" / "dialplan_acme.yaml"
EXAMPLE = VECTOR.read_text(encoding="utf-8")


def config(text: str) -> TenantsConfig:
    return parse_model(text, TenantsConfig)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'dialplan.sqlite3'}") as opened:
        yield opened


def acme_id(store: Store) -> int:
    acme = store.tenants.get_by_name("acme")
    assert acme is not None
    return acme.id


def snapshot(store: Store) -> list[object]:
    state: list[object] = []
    for tenant in store.tenants.list():
        state += [tenant.name, store.extensions.list(tenant.id)]
        state.append(store.dialplans.get_stored(tenant.id))
    return state


def test_the_issue_example_applies_and_is_stored_whole(store: Store) -> None:
    cfg = config(EXAMPLE)
    changes = [str(change) for change in apply(store, cfg)]
    assert changes == [
        "+ tenant acme",
        "+ extension acme/101",
        "+ extension acme/102",
        "+ dialplan acme",
    ]
    stored = store.dialplans.get_stored(acme_id(store))
    assert stored is not None
    assert stored.plan == cfg.tenants[0].dial_plan()
    assert stored.version == 1
    assert stored.updated_at.tzinfo is not None
    assert store.dialplans.tenant_for_number("+34910000000") == acme_id(store)


def test_a_second_apply_changes_nothing(store: Store) -> None:
    apply(store, config(EXAMPLE))
    before = snapshot(store)
    assert apply(store, config(EXAMPLE)) == []
    assert snapshot(store) == before


def test_changes_name_the_parts_that_changed(store: Store) -> None:
    apply(store, config(EXAMPLE))
    changed = EXAMPLE.replace("timeout: 5", "timeout: 7").replace(
        "timezone: Europe/Madrid", "timezone: Atlantic/Canary"
    )
    assert [str(c) for c in apply(store, config(changed))] == ["~ dialplan acme: timezone, ivrs"]
    stored = store.dialplans.get_stored(acme_id(store))
    assert stored is not None and stored.version == 2
    menu = stored.plan.ivr("main")
    assert menu is not None and menu.timeout == 7
    assert apply(store, config(changed)) == []


def test_extension_routing_changes_are_reported(store: Store) -> None:
    apply(store, config(EXAMPLE))
    changed = EXAMPLE.replace("email: alice@acme.test", "email: alicia@acme.test")
    assert [str(c) for c in apply(store, config(changed))] == ["~ dialplan acme: extensions"]
    plan = store.dialplans.get(acme_id(store))
    assert plan is not None
    alice = plan.extension("101")
    assert alice is not None and alice.email == "alicia@acme.test"


def test_a_tenant_without_routing_keeps_no_plan(store: Store) -> None:
    plain = """\
tenants:
  - name: acme
    domain: acme.test
    extensions:
      - {number: "101", password: s3cret-101}
"""
    assert [str(c) for c in apply(store, config(plain))] == [
        "+ tenant acme",
        "+ extension acme/101",
    ]
    assert store.dialplans.get(acme_id(store)) is None
    apply(store, config(EXAMPLE))
    assert [str(c) for c in apply(store, config(plain))] == [
        "~ extension acme/101: name",
        "- dialplan acme",
    ]
    assert store.dialplans.get(acme_id(store)) is None
    assert store.dialplans.tenant_for_number("+34910000000") is None


def test_an_invalid_file_changes_nothing(store: Store) -> None:
    apply(store, config(EXAMPLE))
    before = snapshot(store)
    with pytest.raises(ConfigError):
        config(EXAMPLE.replace("open: {ivr: main}", "open: {ivr: nowhere}"))
    assert snapshot(store) == before


def test_a_number_of_another_tenant_rolls_everything_back(store: Store) -> None:
    other = """\
tenants:
  - name: other
    domain: other.test
    numbers:
      - {number: "+34910000000", destination: {hangup: true}}
"""
    apply(store, config(other))
    before = snapshot(store)
    with pytest.raises(ApplyError, match=r"\+34910000000 already belongs to tenant 'other'"):
        apply(store, config(EXAMPLE))
    assert snapshot(store) == before
    assert store.tenants.get_by_name("acme") is None


def test_dry_run_reports_without_storing(store: Store) -> None:
    changes = apply(store, config(EXAMPLE), dry_run=True)
    assert [str(c) for c in changes][-1] == "+ dialplan acme"
    assert store.tenants.list() == []
    assert store.dialplans.tenant_for_number("+34910000000") is None


def test_stored_plan_answers_the_routing_questions(store: Store) -> None:
    apply(store, config(EXAMPLE))
    tenant_id = store.dialplans.tenant_for_number("+34910000000")
    assert tenant_id is not None
    plan = store.dialplans.get(tenant_id)
    assert plan is not None
    did = plan.virtual_number("+34910000000")
    assert did is not None
    schedule = plan.schedule(did.destination.target)
    assert schedule is not None and schedule.open == ToIvr(ivr="main")
