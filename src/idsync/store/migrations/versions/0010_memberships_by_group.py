"""The memberships of a group are found by one index, whatever kind of member

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 07:30:00.000000

``ux_memberships_group_user`` covered only user members (``WHERE user_id IS NOT
NULL``), so no index could answer ``group_id = ?`` alone. That is the query of the
cascade when a group is deleted (the foreign key's own, on both databases): each group
deletion read every membership, 0.24 s on SQLite and 0.1 s on PostgreSQL at 1,000,000
memberships, ten times that at a million users. Indexing every row costs only the nested
groups' rows: user memberships were already in it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_NAME = "ux_memberships_group_user"
_COLUMNS = ["group_id", "user_id"]


def upgrade() -> None:
    op.drop_index(_NAME, table_name="memberships")
    op.create_index(_NAME, "memberships", _COLUMNS, unique=True)


def downgrade() -> None:
    where = sa.text("user_id IS NOT NULL")
    op.drop_index(_NAME, table_name="memberships")
    op.create_index(
        _NAME, "memberships", _COLUMNS, unique=True, sqlite_where=where, postgresql_where=where
    )
