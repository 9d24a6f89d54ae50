"""SQLAlchemy ORM models. Private to ``centralita.store``: the rest of the code sees
the frozen dataclasses of :mod:`centralita.store.entities`, never these objects.

Any change here needs a new Alembic revision in ``migrations/versions`` (a test compares
the migrated schema with this metadata).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from centralita.store.entities import CALL_DIRECTIONS, CALL_STATUSES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: store naive UTC there)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)  # stored lower-case
    is_default: Mapped[bool] = mapped_column(Boolean(create_constraint=False), default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    __table_args__ = (
        # At most one default tenant: a partial unique index over the rows where it is true.
        Index(
            "uq_tenants_single_default",
            "is_default",
            unique=True,
            sqlite_where=is_default == true(),
            postgresql_where=is_default == true(),
        ),
    )


class Extension(Base):
    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str | None] = mapped_column(String(128))
    # Digest HA1 = H(username ":" realm ":" password), realm = tenant domain (RFC 7616 §3.4.2).
    # NULL when no valid credentials exist (never set, or the tenant's realm changed).
    ha1_md5: Mapped[str | None] = mapped_column(String(32))
    ha1_sha256: Mapped[str | None] = mapped_column(String(64))
    call_waiting: Mapped[bool] = mapped_column(Boolean(create_constraint=False), default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # "off" | "optional" | "required" (entities.SRTP_POLICIES), checked by the repository.
    srtp: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    record_calls: Mapped[bool] = mapped_column(
        Boolean(create_constraint=False), default=False, server_default=false()
    )
    # Set by the user from the phone (feature codes) or the CLI, never by ``apply``: a YAML
    # re-applied leaves them as they are.
    dnd: Mapped[bool] = mapped_column(
        Boolean(create_constraint=False), default=False, server_default=false()
    )
    # Unconditional forward: an extension number of the tenant or an E.164 number.
    forward_to: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("tenant_id", "number"),)


class Registration(Base):
    """One binding of an address-of-record (tenant, extension) to a contact (RFC 3261 §10.3)."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(16))
    contact: Mapped[str] = mapped_column(Text)
    # Where the REGISTER really came from (RFC 3581 received/rport): the NAT's public side.
    received_transport: Mapped[str] = mapped_column(String(8))
    received_host: Mapped[str] = mapped_column(String(64))
    received_port: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # wall clock, epoch seconds
    call_id: Mapped[str] = mapped_column(String(255))
    cseq: Mapped[int] = mapped_column(Integer)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    q: Mapped[float | None] = mapped_column(Float)
    instance_id: Mapped[str | None] = mapped_column(String(255))  # +sip.instance, RFC 5626 §4.1
    reg_id: Mapped[int | None] = mapped_column(Integer)  # reg-id, RFC 5626 §4.2

    __table_args__ = (
        UniqueConstraint("tenant_id", "number", "contact"),
        ForeignKeyConstraint(
            ["tenant_id", "number"],
            ["extensions.tenant_id", "extensions.number"],
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        Index(None, "expires_at"),
    )


class CallRecordRow(Base):
    __tablename__ = "call_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(
        Enum(*CALL_DIRECTIONS, name="direction", native_enum=False, create_constraint=True)
    )
    caller: Mapped[str] = mapped_column(String(128))
    caller_name: Mapped[str | None] = mapped_column(String(128))
    callee: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    talk_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(
        Enum(*CALL_STATUSES, name="status", native_enum=False, create_constraint=True)
    )
    answered_by: Mapped[str | None] = mapped_column(String(128))
    hangup_cause: Mapped[str | None] = mapped_column(String(128))
    routing_trace: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    recording: Mapped[str | None] = mapped_column(String(1024))  # WAV path, both rows of a call

    __table_args__ = (
        UniqueConstraint("tenant_id", "call_id", "owner"),
        Index(None, "tenant_id", "started_at"),
        Index(None, "tenant_id", "owner", "started_at"),
        CheckConstraint("wait_seconds >= 0 AND talk_seconds >= 0", name="durations"),
    )
