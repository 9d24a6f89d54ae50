"""The per-extension SRTP policy in the tenant YAML, applied to the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from centralita.config import ConfigError, TenantsConfig, apply, parse_model
from centralita.store import Store

YAML = """\
tenants:
  - name: acme
    domain: acme.test
    extensions:
      - {{number: "101", password: "s3cret-101", srtp: {srtp}}}
      - {{number: "102", password: "s3cret-102"}}
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'srtp.sqlite3'}") as opened:
        yield opened


def policies(store: Store) -> dict[str, str]:
    tenant = store.tenants.get_by_name("acme")
    assert tenant is not None
    return {ext.number: ext.srtp for ext in store.extensions.list(tenant.id)}


def test_srtp_policy_applied_and_changed(store: Store) -> None:
    apply(store, parse_model(YAML.format(srtp="required"), TenantsConfig))
    assert policies(store) == {"101": "required", "102": "off"}  # off by default
    changes = apply(store, parse_model(YAML.format(srtp="optional"), TenantsConfig))
    assert [str(c) for c in changes] == ["~ extension acme/101: srtp"]
    assert policies(store) == {"101": "optional", "102": "off"}
    assert apply(store, parse_model(YAML.format(srtp="optional"), TenantsConfig)) == []


def test_unknown_srtp_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="srtp"):
        parse_model(YAML.format(srtp="always"), TenantsConfig)
