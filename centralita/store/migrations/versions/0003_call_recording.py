"""Whole-call recording: an extension's ``record_calls`` switch, a call record's ``recording``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Existing extensions are not recorded until someone turns it on.
    op.add_column(
        "extensions",
        sa.Column(
            "record_calls",
            sa.Boolean(create_constraint=False),
            nullable=False,
            server_default=sa.false(),
        ),
    )
    op.add_column("call_records", sa.Column("recording", sa.String(1024), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0002 does: a batch copy of
    # extensions would cascade-delete its registrations.
    op.drop_column("call_records", "recording")
    op.drop_column("extensions", "record_calls")
