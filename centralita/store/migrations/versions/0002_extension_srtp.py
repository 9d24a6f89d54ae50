"""Extensions get an SRTP policy (SDES, RFC 4568): off, optional or required.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Existing extensions keep what they had: no SRTP offered, a phone's own SRTP answered.
    op.add_column(
        "extensions", sa.Column("srtp", sa.String(8), nullable=False, server_default="off")
    )


def downgrade() -> None:
    # A plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of the table would
    # drop the referenced table and cascade-delete its registrations.
    op.drop_column("extensions", "srtp")
