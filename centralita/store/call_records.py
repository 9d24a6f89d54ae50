"""The call log: one row per call, with its final status and routing trace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, bindparam, insert, or_, select

from centralita.store.entities import CallDirection, CallRecord, CallStatus
from centralita.store.errors import AlreadyExists
from centralita.store.models import CallRecordRow
from centralita.store.unit import Unit

_FIELDS = (
    "tenant_id",
    "call_id",
    "owner",
    "direction",
    "caller",
    "caller_name",
    "callee",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "status",
    "answered_by",
    "hangup_cause",
    "routing_trace",
    "recording",
)


# Whether a call is already in an owner's log, asked once per record written (twice per call).
# Built once with bound parameters: building a SELECT costs more than running it on SQLite, and
# the id is all the check needs (no ORM row to load).
_RECORDED = (
    select(CallRecordRow.id)
    .where(
        CallRecordRow.tenant_id == bindparam("tenant_id"),
        CallRecordRow.call_id == bindparam("call_id"),
        CallRecordRow.owner == bindparam("owner"),
    )
    .limit(1)
)

# Many rows at once (the call-log writer's batches): one prepared INSERT, executed for every
# row (DBAPI executemany; psycopg pipelines it), with no duplicate check first: the unique
# constraint on (tenant_id, call_id, owner) refuses a duplicate and the batch rolls back whole.
# The Core table, not the ORM class: ORM bulk inserts split rows by which values are None.
_INSERT: Insert = insert(cast(Table, CallRecordRow.__table__))


@dataclass(frozen=True, slots=True)
class CallRecordFilter:
    """Filters of :meth:`CallRecordRepository.list`; None means "any"."""

    since: datetime | None = None  # started_at >= since
    until: datetime | None = None  # started_at < until
    direction: CallDirection | None = None
    status: CallStatus | None = None
    owner: str | None = None  # one extension's own call log
    number: str | None = None  # caller, callee or answered_by
    limit: int | None = 100
    offset: int = 0


def to_record(row: CallRecordRow) -> CallRecord:
    values: dict[str, Any] = {name: getattr(row, name) for name in _FIELDS}
    values["routing_trace"] = list(row.routing_trace or [])
    return CallRecord(**values)


class CallRecordRepository:
    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def add(self, record: CallRecord) -> None:
        row = CallRecordRow(**{name: getattr(record, name) for name in _FIELDS})
        with self._unit.write() as session:
            key = {"tenant_id": record.tenant_id, "call_id": record.call_id, "owner": record.owner}
            if session.scalar(_RECORDED, key) is not None:
                raise AlreadyExists(
                    f"call {record.call_id!r} is already recorded for {record.owner!r}"
                )
            session.add(row)
            session.flush()

    def add_many(self, records: Sequence[CallRecord]) -> None:
        """Write every record in one INSERT statement, all or none.

        Unlike :meth:`add` there is no look-up first: a record already in the log (or any
        other constraint violation) raises :class:`sqlalchemy.exc.IntegrityError` and, outside
        :meth:`Store.transaction`, nothing of the batch is written; the caller may then fall
        back to :meth:`add` row by row to keep the others."""
        if not records:
            return
        rows = [{name: getattr(record, name) for name in _FIELDS} for record in records]
        with self._unit.write() as session:
            session.execute(_INSERT, rows)

    def get(self, tenant_id: int, call_id: str, owner: str) -> CallRecord | None:
        """The row of ``owner``'s call log for the call."""
        with self._unit.read() as session:
            row = session.scalar(_by_call_id(tenant_id, call_id, owner))
            return None if row is None else to_record(row)

    def list_for_call(self, tenant_id: int, call_id: str) -> list[CallRecord]:
        """Every row of one call (the caller's and the callee's), by owner."""
        query = _by_call_id(tenant_id, call_id).order_by(CallRecordRow.owner)
        with self._unit.read() as session:
            return [to_record(row) for row in session.scalars(query)]

    def list(self, tenant_id: int, where: CallRecordFilter | None = None) -> list[CallRecord]:
        """The tenant's calls, newest first."""
        query = _filtered(tenant_id, where or CallRecordFilter())
        with self._unit.read() as session:
            return [to_record(row) for row in session.scalars(query)]


def _by_call_id(tenant_id: int, call_id: str, owner: str | None = None) -> Select[CallRecordRow]:
    row = CallRecordRow
    query = select(row).where(row.tenant_id == tenant_id, row.call_id == call_id)
    return query if owner is None else query.where(row.owner == owner)


def _filtered(tenant_id: int, where: CallRecordFilter) -> Select[CallRecordRow]:
    row = CallRecordRow
    query = select(row).where(row.tenant_id == tenant_id)
    if where.since is not None:
        query = query.where(row.started_at >= where.since)
    if where.until is not None:
        query = query.where(row.started_at < where.until)
    if where.direction is not None:
        query = query.where(row.direction == where.direction)
    if where.status is not None:
        query = query.where(row.status == where.status)
    if where.owner is not None:
        query = query.where(row.owner == where.owner)
    if where.number is not None:
        number = where.number
        query = query.where(
            or_(row.caller == number, row.callee == number, row.answered_by == number)
        )
    query = query.order_by(row.started_at.desc(), row.id.desc()).offset(where.offset)
    return query.limit(where.limit)
