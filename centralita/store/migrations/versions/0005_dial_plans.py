"""Dial plans: one JSON document per tenant, and the index of virtual numbers (DIDs).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.create_table(
        "dial_plans",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", document, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_dial_plans")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dial_plans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "virtual_numbers",
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_virtual_numbers")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["dial_plans.tenant_id"],
            name=op.f("fk_virtual_numbers_tenant_id_dial_plans"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_virtual_numbers_tenant_id"), "virtual_numbers", ["tenant_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_virtual_numbers_tenant_id"), table_name="virtual_numbers")
    op.drop_table("virtual_numbers")
    op.drop_table("dial_plans")
