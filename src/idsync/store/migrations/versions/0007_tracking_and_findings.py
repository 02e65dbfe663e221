"""Tracking IDs on cycles, jobs and provisioning log entries; evidence; findings

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 11:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sync_cycles") as batch_op:
        batch_op.add_column(sa.Column("tracking_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("evidence", _json(), nullable=True))
    with op.batch_alter_table("sync_jobs") as batch_op:
        batch_op.add_column(sa.Column("tracking_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("evidence", _json(), nullable=True))
    with op.batch_alter_table("provisioning_log") as batch_op:
        batch_op.add_column(sa.Column("tracking_id", sa.String(64), nullable=True))
    op.create_table(
        "findings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "org_id", sa.String(36), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "integration_id",
            sa.String(36),
            sa.ForeignKey("integrations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tracking_id", sa.String(64), nullable=False),
        sa.Column("cause", sa.String(60), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("confidence", sa.String(10), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("protected", _json(), nullable=False),
        sa.Column("repair", _json(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("resolved_at", _when(), nullable=True),
    )
    op.create_index("ix_findings_integration", "findings", ["integration_id", "created_at"])
    op.create_index("ix_findings_tracking", "findings", ["tracking_id"])
    op.create_index("ix_provisioning_log_tracking", "provisioning_log", ["tracking_id"])
    op.create_index("ix_sync_cycles_tracking", "sync_cycles", ["tracking_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_cycles_tracking", "sync_cycles")
    op.drop_index("ix_provisioning_log_tracking", "provisioning_log")
    op.drop_table("findings")
    with op.batch_alter_table("provisioning_log") as batch_op:
        batch_op.drop_column("tracking_id")
    for table in ("sync_jobs", "sync_cycles"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("evidence")
            batch_op.drop_column("tracking_id")
