"""Call requests: calls an administrator asks Centralita to place (recording an IVR's
greeting by phone), queued in the store for whichever server worker takes them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "call_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("extension", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("argument", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_requests")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_call_requests_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_call_requests_taken_at_created_at"),
        "call_requests",
        ["taken_at", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_call_requests_taken_at_created_at"), table_name="call_requests")
    op.drop_table("call_requests")
