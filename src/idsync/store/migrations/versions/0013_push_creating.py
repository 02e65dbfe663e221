"""push_creating: creates sent and not yet answered, by key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 11:30:00.000000

A push integration killed between the application's create and its ledger row left
the object in the application with nothing in idsync naming it: the next cycle found
it by its userName and took it for one made by hand, skipped for good. The keys of
creates are now written before they are sent, and cleared once their answers are
remembered (``idsync.store.push_state``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_creating",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id", "object_type", "key"),
    )


def downgrade() -> None:
    op.drop_table("push_creating")
