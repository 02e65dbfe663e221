"""audit log: aggregated rows (a count per key) and an index for pruning by age

Repeated rejections of credentials are one row per source, token prefix and window,
with a count, instead of one row per request; the retention setting deletes rows by
age through the new index on ``occurred_at``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("count", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
        batch_op.add_column(sa.Column("aggregate_key", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_audit_aggregate_key", ["aggregate_key"], unique=True)
        batch_op.create_index("ix_audit_time", ["occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_time")
        batch_op.drop_index("ix_audit_aggregate_key")
        batch_op.drop_column("aggregate_key")
        batch_op.drop_column("count")
