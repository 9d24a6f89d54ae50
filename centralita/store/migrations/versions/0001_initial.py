"""Initial schema: tenants, extensions, registrations, call records.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

DIRECTIONS = ("inbound", "outbound", "internal")
STATUSES = (
    "answered_out",
    "wrong_number",
    "restricted",
    "cancelled",
    "answered_in",
    "dnd",
    "missed",
    "rejected",
    "forwarded_unanswered",
    "transferred",
)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    _create_tenants()
    _create_extensions()
    _create_registrations()
    _create_call_records()


def downgrade() -> None:
    op.drop_table("call_records")
    op.drop_table("registrations")
    op.drop_table("extensions")
    op.drop_index(op.f("uq_tenants_single_default"), table_name="tenants")
    op.drop_table("tenants")


def _create_tenants() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
        sa.UniqueConstraint("domain", name=op.f("uq_tenants_domain")),
    )
    is_default = sa.column("is_default") == sa.true()
    op.create_index(
        op.f("uq_tenants_single_default"),
        "tenants",
        ["is_default"],
        unique=True,
        sqlite_where=is_default,
        postgresql_where=is_default,
    )


def _create_extensions() -> None:
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=True),
        sa.Column("ha1_md5", sa.String(32), nullable=True),
        sa.Column("ha1_sha256", sa.String(64), nullable=True),
        sa.Column("call_waiting", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_extensions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_extensions_tenant_id_number")),
    )


def _create_registrations() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("received_transport", sa.String(8), nullable=False),
        sa.Column("received_host", sa.String(64), nullable=False),
        sa.Column("received_port", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("user_agent", sa.String(255), nullable=True),
        sa.Column("q", sa.Float(), nullable=True),
        sa.Column("instance_id", sa.String(255), nullable=True),
        sa.Column("reg_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "number"],
            ["extensions.tenant_id", "extensions.number"],
            name=op.f("fk_registrations_tenant_id_number_extensions"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.UniqueConstraint(
            "tenant_id", "number", "contact", name=op.f("uq_registrations_tenant_id_number_contact")
        ),
    )
    op.create_index(op.f("ix_registrations_expires_at"), "registrations", ["expires_at"])


def _create_call_records() -> None:
    trace = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.create_table(
        "call_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("direction", _enum(DIRECTIONS, "direction"), nullable=False),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("caller_name", sa.String(128), nullable=True),
        sa.Column("callee", sa.String(128), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("answered_at", TIMESTAMP, nullable=True),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        sa.Column("status", _enum(STATUSES, "status"), nullable=False),
        sa.Column("answered_by", sa.String(128), nullable=True),
        sa.Column("hangup_cause", sa.String(128), nullable=True),
        sa.Column("routing_trace", trace, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_call_records_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "tenant_id", "call_id", "owner", name=op.f("uq_call_records_tenant_id_call_id_owner")
        ),
        sa.CheckConstraint(
            "wait_seconds >= 0 AND talk_seconds >= 0", name=op.f("ck_call_records_durations")
        ),
    )
    op.create_index(
        op.f("ix_call_records_tenant_id_started_at"), "call_records", ["tenant_id", "started_at"]
    )
    op.create_index(
        op.f("ix_call_records_tenant_id_owner_started_at"),
        "call_records",
        ["tenant_id", "owner", "started_at"],
    )


def _enum(values: tuple[str, ...], column: str) -> sa.Enum:
    # A VARCHAR with a CHECK constraint: portable, and a new status is a constraint change.
    return sa.Enum(
        *values,
        name=op.f(f"ck_call_records_{column}"),
        native_enum=False,
        create_constraint=True,
    )
