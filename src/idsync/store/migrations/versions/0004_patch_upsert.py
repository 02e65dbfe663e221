"""orgs.patch_upsert: which clients' unmatched PATCH value filters create the value

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orgs") as batch:
        batch.add_column(
            sa.Column(
                "patch_upsert",
                sa.String(length=10),
                server_default=sa.text("'entra'"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("orgs") as batch:
        batch.drop_column("patch_upsert")
