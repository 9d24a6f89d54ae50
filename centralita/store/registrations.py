"""The location service's bindings (RFC 3261 §10.3), shared by every worker process.

Expiry is wall-clock epoch seconds, because bindings outlive a process and are read by
other processes (and other nodes on PostgreSQL); callers pass ``now`` explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from centralita.sip.address import Address
from centralita.store.entities import Binding
from centralita.store.models import Registration
from centralita.store.unit import Unit

_KEY = ("tenant_id", "number", "contact")


def _values(binding: Binding) -> dict[str, Any]:
    return {
        "tenant_id": binding.tenant_id,
        "number": binding.number,
        "contact": binding.contact,
        "received_transport": binding.received.transport,
        "received_host": binding.received.host,
        "received_port": binding.received.port,
        "expires_at": binding.expires_at,
        "call_id": binding.call_id,
        "cseq": binding.cseq,
        "user_agent": binding.user_agent,
        "q": binding.q,
        "instance_id": binding.instance_id,
        "reg_id": binding.reg_id,
    }


def to_binding(row: Registration) -> Binding:
    return Binding(
        tenant_id=row.tenant_id,
        number=row.number,
        contact=row.contact,
        received=Address(row.received_transport, row.received_host, row.received_port),
        expires_at=row.expires_at,
        call_id=row.call_id,
        cseq=row.cseq,
        user_agent=row.user_agent,
        q=row.q,
        instance_id=row.instance_id,
        reg_id=row.reg_id,
    )


# The AOR's live bindings: read for every call and every REGISTER, so built once with bound
# parameters (building a SELECT costs more than running it on SQLite).
_LIVE_BINDINGS = (
    select(Registration)
    .where(
        Registration.tenant_id == bindparam("tenant_id"),
        Registration.number == bindparam("number"),
        Registration.expires_at > bindparam("now"),
    )
    .order_by(func.coalesce(Registration.q, 1.0).desc(), Registration.id)
)


def _of_aor(tenant_id: int, number: str) -> Any:
    return (Registration.tenant_id == tenant_id) & (Registration.number == number)


class RegistrationRepository:
    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def replace_bindings(self, tenant_id: int, number: str, bindings: Iterable[Binding]) -> None:
        """Make ``bindings`` the whole binding set of the AOR, atomically."""
        rows = [_values(b) for b in bindings]
        for row in rows:
            if (row["tenant_id"], row["number"]) != (tenant_id, number):
                raise ValueError(f"binding {row['contact']!r} is not for {number}@{tenant_id}")
        with self._unit.write() as session:
            session.execute(delete(Registration).where(_of_aor(tenant_id, number)))
            if rows:
                session.execute(self._insert(session), rows)

    def upsert_binding(self, binding: Binding) -> None:
        """Add the binding, or refresh the one with the same AOR and contact."""
        values = _values(binding)
        with self._unit.write() as session:
            statement = self._insert(session).values(values)
            changes = {k: v for k, v in values.items() if k not in _KEY}
            session.execute(statement.on_conflict_do_update(index_elements=_KEY, set_=changes))

    def remove_binding(self, tenant_id: int, number: str, contact: str) -> bool:
        query = delete(Registration).where(
            _of_aor(tenant_id, number), Registration.contact == contact
        )
        with self._unit.write() as session:
            return _rowcount(session.execute(query)) > 0

    def remove_bindings(self, tenant_id: int, number: str) -> int:
        """Remove every binding of the AOR ("Contact: *", RFC 3261 §10.2.2); how many."""
        query = delete(Registration).where(_of_aor(tenant_id, number))
        with self._unit.write() as session:
            return _rowcount(session.execute(query))

    def get_bindings(self, tenant_id: int, number: str, now: float) -> list[Binding]:
        """Unexpired bindings, highest q first (RFC 3261 §16.6 step 1); no q counts as 1.0."""
        params = {"tenant_id": tenant_id, "number": number, "now": now}
        with self._unit.read() as session:
            return [to_binding(row) for row in session.scalars(_LIVE_BINDINGS, params)]

    def purge_expired(self, now: float) -> int:
        query = delete(Registration).where(Registration.expires_at <= now)
        with self._unit.write() as session:
            return _rowcount(session.execute(query))

    def _insert(self, session: Session) -> Any:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            return pg_insert(Registration)
        return sqlite_insert(Registration)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
