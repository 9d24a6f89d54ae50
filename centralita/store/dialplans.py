"""Dial plans: one validated JSON document per tenant, with a version and the time of its
last change, plus an index of the virtual numbers (DIDs) so that a call from a carrier finds
its tenant without reading every plan.

The rows subclass :class:`~centralita.store.models.Base`; migration 0005 creates them. The
document is what :meth:`DialPlan.model_dump` gives in JSON mode; it is validated again when
read back, so a plan the store hands out always holds together. The routing engine may
cache a plan and ask :meth:`DialPlanRepository.version` whether it is still current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from centralita.store.errors import AlreadyExists
from centralita.store.models import Base, JsonType, Tenant, UtcDateTime, utc_now
from centralita.store.unit import Unit

if TYPE_CHECKING:
    from centralita.config.dialplan import DialPlan


class DialPlanRow(Base):
    __tablename__ = "dial_plans"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)  # 1, then +1 at every change
    document: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class VirtualNumberRow(Base):
    """A DID belongs to one tenant in the whole installation."""

    __tablename__ = "virtual_numbers"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)  # E.164, with '+'
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("dial_plans.tenant_id", ondelete="CASCADE"), index=True
    )


@dataclass(frozen=True, slots=True)
class StoredDialPlan:
    tenant_id: int
    plan: DialPlan
    version: int
    updated_at: datetime  # aware, UTC


def _parse(document: dict[str, Any]) -> DialPlan:
    # Imported here: centralita.config imports the store (apply), the store must not
    # import the config package while it is being initialised.
    from centralita.config.dialplan import DialPlan

    return DialPlan.model_validate(document)


class DialPlanRepository:
    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def get(self, tenant_id: int) -> DialPlan | None:
        stored = self.get_stored(tenant_id)
        return None if stored is None else stored.plan

    def get_stored(self, tenant_id: int) -> StoredDialPlan | None:
        with self._unit.read() as session:
            row = session.get(DialPlanRow, tenant_id)
            if row is None:
                return None
            return StoredDialPlan(tenant_id, _parse(row.document), row.version, row.updated_at)

    def get_document(self, tenant_id: int) -> dict[str, Any] | None:
        """The stored JSON document as it is, not validated (to compare or inspect)."""
        with self._unit.read() as session:
            row = session.get(DialPlanRow, tenant_id)
            return None if row is None else dict(row.document)

    def version(self, tenant_id: int) -> int | None:
        with self._unit.read() as session:
            return session.scalar(
                select(DialPlanRow.version).where(DialPlanRow.tenant_id == tenant_id)
            )

    def put(self, tenant_id: int, plan: DialPlan) -> StoredDialPlan:
        """Store ``plan`` as the tenant's dial plan. The version goes up only when the
        document changes. AlreadyExists when another tenant owns one of its numbers."""
        document = plan.model_dump(mode="json")
        with self._unit.write() as session:
            row = session.get(DialPlanRow, tenant_id)
            if row is not None and row.document == document:
                return StoredDialPlan(tenant_id, plan, row.version, row.updated_at)
            self._claim_numbers(session, tenant_id, [n.number for n in plan.numbers])
            if row is None:
                row = DialPlanRow(tenant_id=tenant_id, version=1, document=document)
                session.add(row)
            else:
                row.version += 1
                row.document = document
                row.updated_at = utc_now()
            session.flush()
            self._index_numbers(session, tenant_id, [n.number for n in plan.numbers])
            return StoredDialPlan(tenant_id, plan, row.version, row.updated_at)

    def remove(self, tenant_id: int) -> bool:
        """Forget the tenant's dial plan; False when it had none."""
        with self._unit.write() as session:
            row = session.get(DialPlanRow, tenant_id)
            if row is None:
                return False
            session.execute(delete(VirtualNumberRow).where(VirtualNumberRow.tenant_id == tenant_id))
            session.delete(row)
            return True

    def tenant_for_number(self, number: str) -> int | None:
        """The tenant owning the virtual number ``number`` (E.164 with '+')."""
        with self._unit.read() as session:
            return session.scalar(
                select(VirtualNumberRow.tenant_id).where(VirtualNumberRow.number == number)
            )

    def list_tenants(self) -> list[int]:
        """The tenants that have a dial plan (e.g. to find a carrier by source address)."""
        with self._unit.read() as session:
            query = select(DialPlanRow.tenant_id).order_by(DialPlanRow.tenant_id)
            return list(session.scalars(query))

    @staticmethod
    def _claim_numbers(session: Session, tenant_id: int, numbers: list[str]) -> None:
        query = (
            select(VirtualNumberRow.number, Tenant.name)
            .join(Tenant, Tenant.id == VirtualNumberRow.tenant_id)
            .where(VirtualNumberRow.number.in_(numbers), VirtualNumberRow.tenant_id != tenant_id)
        )
        taken = session.execute(query).first()
        if taken is not None:
            number, owner = taken
            raise AlreadyExists(f"virtual number {number} already belongs to tenant {owner!r}")

    @staticmethod
    def _index_numbers(session: Session, tenant_id: int, numbers: list[str]) -> None:
        session.execute(delete(VirtualNumberRow).where(VirtualNumberRow.tenant_id == tenant_id))
        session.add_all(VirtualNumberRow(number=n, tenant_id=tenant_id) for n in numbers)
