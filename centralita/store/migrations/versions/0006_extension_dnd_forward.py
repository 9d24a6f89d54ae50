"""Extensions get the settings a user changes from the phone: do-not-disturb and an
unconditional forward (feature codes, issue "the dial plan").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Existing extensions take their calls as before: DND off, no forward.
    op.add_column(
        "extensions",
        sa.Column(
            "dnd",
            sa.Boolean(create_constraint=False),
            nullable=False,
            server_default=sa.false(),
        ),
    )
    op.add_column("extensions", sa.Column("forward_to", sa.String(16), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0002 and 0003 do: a batch copy
    # of extensions would cascade-delete its registrations.
    op.drop_column("extensions", "forward_to")
    op.drop_column("extensions", "dnd")
