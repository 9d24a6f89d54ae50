from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from centralita.config import ApplyError, Change, TenantsConfig, apply, parse_model
from centralita.store import Store

ACME = """\
tenants:
  - name: acme
    domain: acme.test
    extensions:
      - {number: "101", name: Alice, password: "s3cret-101"}
      - {number: "102", name: Bob, password: "s3cret-102", call_waiting: true}
"""


def config(text: str) -> TenantsConfig:
    return parse_model(text, TenantsConfig)


def lines(changes: Sequence[Change]) -> list[str]:
    return [str(change) for change in changes]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'apply.sqlite3'}") as opened:
        yield opened


def snapshot(store: Store) -> list[object]:
    state: list[object] = []
    for tenant in store.tenants.list():
        state.append((tenant.name, tenant.domain, tenant.is_default))
        for ext in store.extensions.list(tenant.id):
            state.append((ext, store.extensions.get_ha1(tenant.id, ext.number, "SHA-256")))
    return state


def test_apply_creates_then_is_idempotent(store: Store) -> None:
    assert lines(apply(store, config(ACME))) == [
        "+ tenant acme",
        "+ extension acme/101",
        "+ extension acme/102",
    ]
    acme = store.tenants.get_by_name("acme")
    assert acme is not None
    assert store.extensions.password_matches(acme.id, "101", "s3cret-101")
    bob = store.extensions.get(acme.id, "102")
    assert bob is not None and (bob.name, bob.call_waiting) == ("Bob", True)
    assert apply(store, config(ACME)) == []


def test_changes_name_the_changed_fields(store: Store) -> None:
    apply(store, config(ACME))
    changed = ACME.replace(
        'name: Alice, password: "s3cret-101"', 'name: Alicia, password: "n3w-secret"'
    )
    changed = changed.replace(", call_waiting: true", "")
    assert lines(apply(store, config(changed))) == [
        "~ extension acme/101: name, password",
        "~ extension acme/102: call_waiting",
    ]
    acme = store.tenants.get_by_name("acme")
    assert acme is not None
    assert store.extensions.password_matches(acme.id, "101", "n3w-secret")
    assert apply(store, config(changed)) == []


def test_unlisted_extensions_stay_unless_pruned(store: Store) -> None:
    apply(store, config(ACME))
    acme = store.tenants.get_by_name("acme")
    assert acme is not None
    store.extensions.add(acme.id, "105", password="added-by-hand")
    only_101 = ACME.split('      - {number: "102"')[0]
    assert apply(store, config(only_101)) == []
    assert [e.number for e in store.extensions.list(acme.id)] == ["101", "102", "105"]
    assert lines(apply(store, config(only_101), prune=True)) == [
        "- extension acme/102",
        "- extension acme/105",
    ]
    assert [e.number for e in store.extensions.list(acme.id)] == ["101"]


def test_dry_run_reports_but_changes_nothing(store: Store) -> None:
    assert lines(apply(store, config(ACME), dry_run=True))[0] == "+ tenant acme"
    assert store.tenants.list() == []
    assert len(apply(store, config(ACME))) == 3


def test_a_failing_apply_changes_nothing(store: Store) -> None:
    apply(store, config(ACME))
    store.tenants.add("other", "taken.test")
    before = snapshot(store)
    bad = ACME.replace("s3cret-101", "changed-101") + (
        "  - name: newco\n    domain: newco.test\n"
        "  - name: beta\n    domain: taken.test\n"  # collides with an unlisted tenant
    )
    with pytest.raises(ApplyError, match=r"'taken\.test' already belongs to tenant 'other'"):
        apply(store, config(bad))
    assert snapshot(store) == before
    assert store.tenants.get_by_name("newco") is None


def test_default_tenant_moves_and_is_reported(store: Store) -> None:
    store.tenants.add("demo", "demo.test", is_default=True)
    text = ACME.replace("    domain: acme.test\n", "    domain: acme.test\n    default: true\n")
    assert lines(apply(store, config(text))) == [
        "+ tenant acme",
        "+ extension acme/101",
        "+ extension acme/102",
        "~ tenant demo: default",
    ]
    default = store.tenants.get_default()
    assert default is not None and default.name == "acme"
    assert apply(store, config(text)) == []
    assert lines(apply(store, config(ACME))) == ["~ tenant acme: default"]
    assert store.tenants.get_default() is None


def test_moving_the_default_reports_the_tenant_that_lost_it(store: Store) -> None:
    apply(store, config(ACME))
    store.tenants.add("demo", "demo.test", is_default=True)
    text = ACME.replace("    domain: acme.test\n", "    domain: acme.test\n    default: true\n")
    assert lines(apply(store, config(text))) == ["~ tenant acme: default", "~ tenant demo: default"]


def test_domain_change_recomputes_the_ha1_values(store: Store) -> None:
    apply(store, config(ACME))
    moved = ACME.replace("domain: acme.test", "domain: acme.example")
    assert lines(apply(store, config(moved))) == [
        "~ tenant acme: domain",
        "~ extension acme/101: password",
        "~ extension acme/102: password",
    ]
    acme = store.tenants.get_by_domain("acme.example")
    assert acme is not None
    assert store.extensions.password_matches(acme.id, "101", "s3cret-101")
    assert apply(store, config(moved)) == []
