"""push ledger: what push integrations sent to SCIM applications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_objects",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.String(length=300), nullable=False),
        sa.Column(
            "assignments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id", "object_type", "target_id"),
    )
    op.create_table(
        "push_members",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=300), nullable=False),
        sa.Column("member_type", sa.String(length=10), nullable=False),
        sa.Column("member_id", sa.String(length=300), nullable=False),
        sa.Column("seen_cycle", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id", "group_id", "member_type", "member_id"),
    )


def downgrade() -> None:
    op.drop_table("push_members")
    op.drop_table("push_objects")
