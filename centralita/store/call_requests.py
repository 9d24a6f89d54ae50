"""Call requests: calls an administrator asks Centralita to place (issue 4, "IVR menus":
"the administrator asks Centralita to call their phone").

The command line cannot reach a running server, and with several server workers none of them
is "the" server: the table is the queue. A request is written by :meth:`CallRequestRepository.add`;
each worker polls :meth:`~CallRequestRepository.take_pending`, which claims a request with a
conditional ``UPDATE ... WHERE taken_at IS NULL``: of several workers racing for one request
exactly one sees its row updated (one row changed, the others none), on SQLite (one writer at
a time) and on PostgreSQL (the second UPDATE waits for the first, then re-checks the WHERE
under READ COMMITTED). A request nobody took within :data:`EXPIRES_AFTER` is finished as
``expired`` instead of run: nobody waits by the phone for a call asked for long ago.
:meth:`~CallRequestRepository.finish` records how it went ("saved", "not answered", ...).

The table's model lives here, with its repository, and joins the store's one metadata by
subclassing :class:`~centralita.store.models.Base`; migration 0007 creates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Mapped, mapped_column

from centralita.store.errors import StoreError
from centralita.store.models import Base, UtcDateTime, utc_now
from centralita.store.unit import Unit

EXPIRES_AFTER = timedelta(minutes=2)
EXPIRED = "expired"
ACTIONS = ("record_greeting",)

_FIELDS = (
    "id",
    "tenant_id",
    "extension",
    "action",
    "argument",
    "created_at",
    "taken_at",
    "finished_at",
    "result",
)


@dataclass(frozen=True, slots=True)
class CallRequest:
    """Call ``extension`` of the tenant and run ``action`` (with ``argument``) on the call."""

    id: int
    tenant_id: int
    extension: str
    action: str  # one of ACTIONS
    argument: str  # record_greeting: the IVR's name
    created_at: datetime  # aware, UTC
    taken_at: datetime | None = None  # when a server worker claimed it
    finished_at: datetime | None = None
    result: str | None = None  # "saved", "not answered", "expired", ...

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class CallRequestNotFound(StoreError):
    def __init__(self, request_id: int) -> None:
        super().__init__(f"no call request {request_id}")
        self.request_id = request_id


class CallRequestRow(Base):
    __tablename__ = "call_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    extension: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    argument: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    taken_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    result: Mapped[str | None] = mapped_column(String(255))

    # The pollers' query: the untaken requests, oldest first.
    __table_args__ = (Index(None, "taken_at", "created_at"),)


def to_request(row: CallRequestRow) -> CallRequest:
    return CallRequest(**{name: getattr(row, name) for name in _FIELDS})


class CallRequestRepository:
    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def add(
        self,
        tenant_id: int,
        extension: str,
        action: str,
        argument: str,
        *,
        now: datetime | None = None,
    ) -> CallRequest:
        if action not in ACTIONS:
            raise ValueError(f"unknown call request action {action!r}")
        row = CallRequestRow(
            tenant_id=tenant_id,
            extension=extension,
            action=action,
            argument=argument,
            created_at=now or utc_now(),
        )
        with self._unit.write() as session:
            session.add(row)
            session.flush()
            return to_request(row)

    def get(self, request_id: int) -> CallRequest | None:
        with self._unit.read() as session:
            row = session.get(CallRequestRow, request_id)
            return None if row is None else to_request(row)

    def take_pending(self, limit: int = 10, *, now: datetime | None = None) -> list[CallRequest]:
        """Claim up to ``limit`` pending requests, oldest first; each is handed to exactly
        one caller however many workers poll at once. Stale ones are expired on the way."""
        now = now or utc_now()
        self._expire(now)
        row = CallRequestRow
        pending = (
            select(row.id)
            .where(row.taken_at.is_(None), row.created_at >= now - EXPIRES_AFTER)
            .order_by(row.created_at, row.id)
            .limit(limit)
        )
        with self._unit.read() as session:
            candidates = list(session.scalars(pending))
        taken = []
        for request_id in candidates:
            claimed = self._claim(request_id, now)
            if claimed is not None:
                taken.append(claimed)
        return taken

    def finish(self, request_id: int, result: str, *, now: datetime | None = None) -> CallRequest:
        with self._unit.write() as session:
            row = session.get(CallRequestRow, request_id)
            if row is None:
                raise CallRequestNotFound(request_id)
            row.finished_at = now or utc_now()
            row.result = result[:255]
            session.flush()
            return to_request(row)

    def _claim(self, request_id: int, now: datetime) -> CallRequest | None:
        row = CallRequestRow
        claim = (
            update(row)
            .where(row.id == request_id, row.taken_at.is_(None))
            .values(taken_at=now)
            .execution_options(synchronize_session=False)
        )
        with self._unit.write() as session:
            result = session.execute(claim)
            assert isinstance(result, CursorResult)
            if result.rowcount != 1:
                return None  # another worker was first
            found = session.get(CallRequestRow, request_id, populate_existing=True)
            assert found is not None
            return to_request(found)

    def _expire(self, now: datetime) -> None:
        row = CallRequestRow
        stale = (
            update(row)
            .where(row.taken_at.is_(None), row.created_at < now - EXPIRES_AFTER)
            .values(taken_at=now, finished_at=now, result=EXPIRED)
            .execution_options(synchronize_session=False)
        )
        with self._unit.write() as session:
            session.execute(stale)
