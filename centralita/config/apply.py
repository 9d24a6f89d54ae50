"""Make the store match a tenants configuration: declarative, idempotent, all or nothing.

The dial plan of a tenant (:mod:`centralita.config.dialplan`) is stored as one document in the
same transaction; the change lists the parts that differ (``~ dialplan acme: ivrs, numbers``).
A tenant whose file says nothing beyond plain extensions keeps no dial plan.

Passwords are not stored, so an extension's password "changes" when its HA1 values differ
from the ones the configured password gives under the tenant's realm. Tenants are never
removed by ``apply``; unlisted extensions of listed tenants only with ``prune=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from centralita.config.dialplan import DialPlan
from centralita.config.tenants import ExtensionConfig, TenantConfig, TenantsConfig
from centralita.store import ExtensionInfo, Store, StoreError, TenantInfo


@dataclass(frozen=True, slots=True)
class Change:
    """One line of what ``apply`` did: ``+ tenant acme``, ``~ extension acme/101: name``."""

    action: Literal["+", "~", "-"]
    kind: Literal["tenant", "extension", "dialplan"]
    name: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        line = f"{self.action} {self.kind} {self.name}"
        return f"{line}: {', '.join(self.fields)}" if self.fields else line


class ApplyError(Exception):
    """The configuration could not be applied; nothing was changed."""


class _DryRun(Exception):
    def __init__(self, changes: list[Change]) -> None:
        super().__init__("dry run")
        self.changes = changes


def apply(
    store: Store, config: TenantsConfig, *, prune: bool = False, dry_run: bool = False
) -> list[Change]:
    """Apply ``config`` in one transaction and say what changed (nothing when ``dry_run``
    is set: the changes are computed, then rolled back)."""
    try:
        with store.transaction() as tx:
            changes = _apply_all(tx, config, prune)
            if dry_run:
                raise _DryRun(changes)
    except _DryRun as rolled_back:
        return rolled_back.changes
    except StoreError as exc:
        raise ApplyError(str(exc)) from exc
    return changes


def _apply_all(tx: Store, config: TenantsConfig, prune: bool) -> list[Change]:
    previous = tx.tenants.get_default()
    was_default = None if previous is None else previous.name
    changes: list[Change] = []
    for tenant in config.tenants:
        changes += _apply_tenant(tx, tenant, was_default, prune)
    listed = {tenant.name for tenant in config.tenants}
    now = tx.tenants.get_default()
    lost = was_default is not None and (now is None or now.name != was_default)
    if lost and was_default is not None and was_default not in listed:
        changes.append(Change("~", "tenant", was_default, ("default",)))
    return changes


def _apply_tenant(
    tx: Store, cfg: TenantConfig, was_default: str | None, prune: bool
) -> list[Change]:
    info = tx.tenants.get_by_name(cfg.name)
    if info is None:
        info = tx.tenants.add(cfg.name, cfg.domain, is_default=cfg.default)
        changes = [Change("+", "tenant", cfg.name)]
    else:
        changes = _update_tenant(tx, info, cfg, was_default)
    return changes + _apply_extensions(tx, info, cfg, prune) + _apply_dial_plan(tx, info, cfg)


def _update_tenant(
    tx: Store, info: TenantInfo, cfg: TenantConfig, was_default: str | None
) -> list[Change]:
    fields: list[str] = []
    if info.domain != cfg.domain:
        tx.tenants.set_domain(cfg.name, cfg.domain)
        fields.append("domain")
    if (was_default == cfg.name) != cfg.default:
        fields.append("default")
    current = tx.tenants.get_default()
    if cfg.default and (current is None or current.name != cfg.name):
        tx.tenants.set_default(cfg.name)
    elif not cfg.default and current is not None and current.name == cfg.name:
        tx.tenants.set_default(None)
    return [Change("~", "tenant", cfg.name, tuple(fields))] if fields else []


def _apply_extensions(
    tx: Store, tenant: TenantInfo, cfg: TenantConfig, prune: bool
) -> list[Change]:
    existing = {ext.number: ext for ext in tx.extensions.list(tenant.id)}
    changes: list[Change] = []
    for ext in cfg.extensions:
        label = f"{cfg.name}/{ext.number}"
        current = existing.pop(ext.number, None)
        if current is None:
            tx.extensions.add(
                tenant.id,
                ext.number,
                password=ext.password,
                name=ext.name,
                call_waiting=ext.call_waiting,
                srtp=ext.srtp,
                record_calls=ext.record_calls,
            )
            changes.append(Change("+", "extension", label))
        elif fields := _update_extension(tx, current, ext):
            changes.append(Change("~", "extension", label, fields))
    if prune:
        for number in sorted(existing):
            tx.extensions.remove(tenant.id, number)
            changes.append(Change("-", "extension", f"{cfg.name}/{number}"))
    return changes


def _update_extension(tx: Store, current: ExtensionInfo, cfg: ExtensionConfig) -> tuple[str, ...]:
    matches = tx.extensions.password_matches(current.tenant_id, cfg.number, cfg.password)
    fields = tuple(
        name
        for name, changed in (
            ("name", current.name != cfg.name),
            ("password", not matches),
            ("call_waiting", current.call_waiting != cfg.call_waiting),
            ("srtp", current.srtp != cfg.srtp),
            ("record_calls", current.record_calls != cfg.record_calls),
        )
        if changed
    )
    if fields:
        tx.extensions.update(
            current.tenant_id,
            cfg.number,
            name=cfg.name,
            password=None if matches else cfg.password,
            call_waiting=cfg.call_waiting,
            srtp=cfg.srtp,
            record_calls=cfg.record_calls,
        )
    return fields


def _apply_dial_plan(tx: Store, tenant: TenantInfo, cfg: TenantConfig) -> list[Change]:
    plan = cfg.dial_plan()
    stored = tx.dialplans.get_document(tenant.id)
    if stored is None:
        if plan.is_empty:
            return []
        tx.dialplans.put(tenant.id, plan)
        return [Change("+", "dialplan", cfg.name)]
    if plan.is_empty:
        tx.dialplans.remove(tenant.id)
        return [Change("-", "dialplan", cfg.name)]
    document = plan.model_dump(mode="json")
    fields = tuple(name for name in DialPlan.model_fields if stored.get(name) != document[name])
    if not fields:
        return []
    tx.dialplans.put(tenant.id, plan)
    return [Change("~", "dialplan", cfg.name, fields)]
