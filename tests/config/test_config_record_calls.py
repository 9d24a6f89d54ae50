"""``record_calls`` per extension: YAML -> store, the CLI flag, and the call log's link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from centralita.cli import main
from centralita.config import ConfigError, TenantsConfig, apply, parse_model
from centralita.store import Store
from centralita.store.entities import CallRecord

YAML = """\
tenants:
  - name: acme
    domain: acme.test
    extensions:
      - {{number: "101", password: "s3cret-101", record_calls: {record}}}
      - {{number: "102", password: "s3cret-102"}}
"""


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rec.sqlite3'}"


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    with Store.open(database) as opened:
        yield opened


def recorded(store: Store) -> dict[str, bool]:
    tenant = store.tenants.get_by_name("acme")
    assert tenant is not None
    return {ext.number: ext.record_calls for ext in store.extensions.list(tenant.id)}


def test_record_calls_applied_and_changed(store: Store) -> None:
    apply(store, parse_model(YAML.format(record="true"), TenantsConfig))
    assert recorded(store) == {"101": True, "102": False}  # off by default
    changes = apply(store, parse_model(YAML.format(record="false"), TenantsConfig))
    assert [str(c) for c in changes] == ["~ extension acme/101: record_calls"]
    assert recorded(store) == {"101": False, "102": False}
    assert apply(store, parse_model(YAML.format(record="false"), TenantsConfig)) == []


def test_record_calls_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="record_calls"):
        parse_model(YAML.format(record="sometimes"), TenantsConfig)


def test_cli_extension_add_with_record_calls(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenant", "add", "acme", "acme.test", "--database", database]) == 0
    argv = ["extension", "add", "acme", "101", "--password", "pw-101-long", "--database"]
    assert main([*argv, database, "--record-calls"]) == 0
    assert (
        main(
            ["extension", "add", "acme", "102", "--password", "pw-102-long", "--database", database]
        )
        == 0
    )
    capsys.readouterr()
    with Store.open(database) as store:
        assert recorded(store) == {"101": True, "102": False}


def test_call_record_keeps_the_recording_link(store: Store) -> None:
    tenant = store.tenants.add("acme", "acme.test")
    started = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    for owner, direction, status in (
        ("101", "outbound", "answered_out"),
        ("102", "inbound", "answered_in"),
    ):
        store.call_records.add(
            CallRecord(
                tenant_id=tenant.id,
                call_id="c1",
                owner=owner,
                direction=direction,  # type: ignore[arg-type]
                caller="101",
                callee="102",
                started_at=started,
                status=status,  # type: ignore[arg-type]
                recording="/var/recordings/acme/2027-01-15/c1.wav",
            )
        )
    rows = store.call_records.list_for_call(tenant.id, "c1")
    assert [r.recording for r in rows] == ["/var/recordings/acme/2027-01-15/c1.wav"] * 2
