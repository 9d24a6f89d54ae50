"""Tenants: a name, a SIP domain (also the digest realm) and the default flag."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from centralita.store.entities import TenantInfo
from centralita.store.errors import AlreadyExists, TenantNotFound
from centralita.store.models import Extension, Tenant
from centralita.store.unit import Unit


def normalize_domain(domain: str) -> str:
    """Host names compare case-insensitively (RFC 3261 §19.1.4); a final dot adds nothing."""
    return domain.strip().rstrip(".").lower()


def to_info(row: Tenant) -> TenantInfo:
    return TenantInfo(
        id=row.id,
        name=row.name,
        domain=row.domain,
        is_default=row.is_default,
        created_at=row.created_at,
    )


def find_tenant(session: Session, name: str) -> Tenant:
    row = session.scalar(select(Tenant).where(Tenant.name == name))
    if row is None:
        raise TenantNotFound(name)
    return row


class TenantRepository:
    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def add(self, name: str, domain: str, *, is_default: bool = False) -> TenantInfo:
        domain = normalize_domain(domain)
        with self._unit.write() as session:
            self._check_free(session, name, domain)
            if is_default:
                _clear_default(session)
            row = Tenant(name=name, domain=domain, is_default=is_default)
            session.add(row)
            session.flush()
            return to_info(row)

    def get(self, tenant_id: int) -> TenantInfo | None:
        with self._unit.read() as session:
            row = session.get(Tenant, tenant_id)
            return None if row is None else to_info(row)

    def get_by_name(self, name: str) -> TenantInfo | None:
        with self._unit.read() as session:
            row = session.scalar(select(Tenant).where(Tenant.name == name))
            return None if row is None else to_info(row)

    def get_by_domain(self, domain: str) -> TenantInfo | None:
        with self._unit.read() as session:
            query = select(Tenant).where(Tenant.domain == normalize_domain(domain))
            row = session.scalar(query)
            return None if row is None else to_info(row)

    def get_default(self) -> TenantInfo | None:
        with self._unit.read() as session:
            row = session.scalar(select(Tenant).where(Tenant.is_default.is_(True)))
            return None if row is None else to_info(row)

    def list(self) -> list[TenantInfo]:
        with self._unit.read() as session:
            return [to_info(row) for row in session.scalars(select(Tenant).order_by(Tenant.name))]

    def remove(self, name: str) -> None:
        """Remove a tenant and everything it owns (extensions, bindings, call log)."""
        with self._unit.write() as session:
            session.delete(find_tenant(session, name))

    def set_default(self, name: str | None) -> None:
        """Make ``name`` the default tenant; None leaves no default tenant."""
        with self._unit.write() as session:
            target = None if name is None else find_tenant(session, name)
            _clear_default(session)
            if target is not None:
                target.is_default = True

    def set_domain(self, name: str, domain: str) -> TenantInfo:
        """Change the tenant's domain. The realm changes with it, so every HA1 of the tenant
        becomes useless: they are cleared and the passwords must be set again."""
        domain = normalize_domain(domain)
        with self._unit.write() as session:
            row = find_tenant(session, name)
            if row.domain == domain:
                return to_info(row)
            self._check_free(session, None, domain)
            row.domain = domain
            session.execute(
                update(Extension)
                .where(Extension.tenant_id == row.id)
                .values(ha1_md5=None, ha1_sha256=None)
            )
            session.flush()
            return to_info(row)

    @staticmethod
    def _check_free(session: Session, name: str | None, domain: str) -> None:
        if name is not None and session.scalar(select(Tenant.id).where(Tenant.name == name)):
            raise AlreadyExists(f"tenant {name!r} already exists")
        owner = session.scalar(select(Tenant.name).where(Tenant.domain == domain))
        if owner is not None:
            raise AlreadyExists(f"domain {domain!r} already belongs to tenant {owner!r}")


def _clear_default(session: Session) -> None:
    # Clear first, then set: the partial unique index allows one default row at any time.
    session.execute(update(Tenant).where(Tenant.is_default.is_(True)).values(is_default=False))
    session.flush()
