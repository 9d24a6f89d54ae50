"""Voicemail messages: who left one in which box, when, how long, where its WAV is, and
whether the box owner has heard or deleted it.

A box is a user's extension number ("101") or a shared box's name ("general"), within a
tenant. Deleting only marks a message (the phone menu lets the caller change their mind
until they hang up, and the WAV must go with the row): :meth:`VoicemailRepository.purge`
removes the marked rows and hands back their paths for the caller to delete the files.

The table's model lives here, with its repository, and joins the store's one metadata by
subclassing :class:`~centralita.store.models.Base`; migration 0004 creates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Select,
    String,
    delete,
    false,
    func,
    select,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from centralita.store.errors import AlreadyExists, StoreError
from centralita.store.models import Base, UtcDateTime
from centralita.store.unit import Unit

_FIELDS = (
    "id",
    "tenant_id",
    "box",
    "caller",
    "caller_name",
    "received_at",
    "duration",
    "path",
    "heard",
    "deleted",
)


@dataclass(frozen=True, slots=True)
class VoicemailMessage:
    """One message of a box. ``id`` is chosen by whoever files the message (a random hex
    string: it names the WAV and may appear in URLs, so it must not be guessable)."""

    id: str
    tenant_id: int
    box: str  # an extension number or a shared box name
    caller: str  # the caller's number as presented
    received_at: datetime  # aware, UTC when read back
    duration: float  # seconds of audio
    path: str  # the WAV file
    caller_name: str | None = None
    heard: bool = False
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class VoicemailCounts:
    """What message-waiting indication reports (RFC 3842 §5.2 ``Voice-Message: new/old``);
    deleted messages count in neither."""

    new: int = 0
    old: int = 0


class VoicemailMessageNotFound(StoreError):
    def __init__(self, tenant_id: int, message_id: str) -> None:
        super().__init__(f"no voicemail message {message_id!r} in tenant {tenant_id}")
        self.tenant_id = tenant_id
        self.message_id = message_id


class VoicemailMessageRow(Base):
    __tablename__ = "voicemail_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    box: Mapped[str] = mapped_column(String(63))
    caller: Mapped[str] = mapped_column(String(128))
    caller_name: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(String(1024))
    heard: Mapped[bool] = mapped_column(
        Boolean(create_constraint=False), default=False, server_default=false()
    )
    deleted: Mapped[bool] = mapped_column(
        Boolean(create_constraint=False), default=False, server_default=false()
    )

    __table_args__ = (
        Index(None, "tenant_id", "box", "received_at"),
        CheckConstraint("duration >= 0", name="duration"),
    )


def to_message(row: VoicemailMessageRow) -> VoicemailMessage:
    return VoicemailMessage(**{name: getattr(row, name) for name in _FIELDS})


class VoicemailRepository:
    """Every method is scoped to one tenant: an id of another tenant's message finds nothing."""

    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def add(self, message: VoicemailMessage) -> None:
        row = VoicemailMessageRow(**{name: getattr(message, name) for name in _FIELDS})
        with self._unit.write() as session:
            if session.get(VoicemailMessageRow, message.id) is not None:
                raise AlreadyExists(f"voicemail message {message.id!r} already exists")
            session.add(row)
            session.flush()

    def get(self, tenant_id: int, message_id: str) -> VoicemailMessage | None:
        with self._unit.read() as session:
            row = session.scalar(_one(tenant_id, message_id))
            return None if row is None else to_message(row)

    def counts(self, tenant_id: int, box: str) -> VoicemailCounts:
        row = VoicemailMessageRow
        query = (
            select(row.heard, func.count())
            .where(row.tenant_id == tenant_id, row.box == box, row.deleted == false())
            .group_by(row.heard)
        )
        with self._unit.read() as session:
            by_heard = {bool(heard): int(count) for heard, count in session.execute(query)}
        return VoicemailCounts(new=by_heard.get(False, 0), old=by_heard.get(True, 0))

    def mark_heard(self, tenant_id: int, message_id: str, heard: bool = True) -> VoicemailMessage:
        """Mark a message heard (or new again, ``heard=False``)."""
        return self._set(tenant_id, message_id, heard=heard)

    def delete(self, tenant_id: int, message_id: str, deleted: bool = True) -> VoicemailMessage:
        """Mark a message deleted (``deleted=False`` takes it back until it is purged)."""
        return self._set(tenant_id, message_id, deleted=deleted)

    def purge(self, tenant_id: int, box: str | None = None) -> list[VoicemailMessage]:
        """Remove the rows of deleted messages (of one box, or of the whole tenant) and give
        them back: their files are the caller's to remove."""
        row = VoicemailMessageRow
        where = [row.tenant_id == tenant_id, row.deleted == true()]
        if box is not None:
            where.append(row.box == box)
        with self._unit.write() as session:
            gone = [to_message(found) for found in session.scalars(select(row).where(*where))]
            if gone:
                session.execute(delete(row).where(row.id.in_([m.id for m in gone])))
        return gone

    def boxes(self, tenant_id: int) -> Sequence[str]:
        """Boxes of the tenant holding at least one message (deleted ones included)."""
        row = VoicemailMessageRow
        query = select(row.box).where(row.tenant_id == tenant_id).distinct().order_by(row.box)
        with self._unit.read() as session:
            return list(session.scalars(query))

    def list(
        self,
        tenant_id: int,
        box: str,
        *,
        heard: bool | None = None,
        include_deleted: bool = False,
    ) -> list[VoicemailMessage]:
        """The box's messages in the order they arrived (the order a caller listens to
        them); ``heard`` False gives only the new ones, True only the old ones."""
        row = VoicemailMessageRow
        query = select(row).where(row.tenant_id == tenant_id, row.box == box)
        if heard is not None:
            query = query.where(row.heard == heard)
        if not include_deleted:
            query = query.where(row.deleted == false())
        query = query.order_by(row.received_at, row.id)
        with self._unit.read() as session:
            return [to_message(found) for found in session.scalars(query)]

    def _set(self, tenant_id: int, message_id: str, **values: bool) -> VoicemailMessage:
        with self._unit.write() as session:
            row = session.scalar(_one(tenant_id, message_id))
            if row is None:
                raise VoicemailMessageNotFound(tenant_id, message_id)
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return to_message(row)


def _one(tenant_id: int, message_id: str) -> Select[VoicemailMessageRow]:
    row = VoicemailMessageRow
    return select(row).where(row.tenant_id == tenant_id, row.id == message_id)
