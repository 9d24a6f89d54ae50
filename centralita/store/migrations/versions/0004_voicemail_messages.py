"""Voicemail messages: one row per message left in a user's or a shared box.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "voicemail_messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("box", sa.String(63), nullable=False),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("caller_name", sa.String(128), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("heard", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemail_messages")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_voicemail_messages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("duration >= 0", name=op.f("ck_voicemail_messages_duration")),
    )
    op.create_index(
        op.f("ix_voicemail_messages_tenant_id_box_received_at"),
        "voicemail_messages",
        ["tenant_id", "box", "received_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_voicemail_messages_tenant_id_box_received_at"), table_name="voicemail_messages"
    )
    op.drop_table("voicemail_messages")
