"""A membership's organisation is no longer checked row by row

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 08:00:00.000000

``memberships.org_id`` had a foreign key to ``orgs``, which adds nothing the foreign key
to ``groups`` does not already give (a group belongs to its org and its deletion takes
its memberships with it), and PostgreSQL checks each one row by row: 5 s of the 25 s a
million memberships take to insert. The column stays (queries filter on it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# SQLite's foreign keys have no names: batch mode names them by this to drop one.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_SQLITE_NAME = "fk_memberships_org_id_orgs"


def _postgres_name() -> str | None:
    for key in sa.inspect(op.get_bind()).get_foreign_keys("memberships"):
        if key["constrained_columns"] == ["org_id"]:
            return key["name"]
    return None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a constraint: the table is rebuilt, its rows copied.
        with op.batch_alter_table(
            "memberships", naming_convention=_NAMING, recreate="always"
        ) as batch_op:
            batch_op.drop_constraint(_SQLITE_NAME, type_="foreignkey")
        return
    name = _postgres_name()
    if name is not None:
        op.drop_constraint(name, "memberships", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("memberships", naming_convention=_NAMING) as batch_op:
        batch_op.create_foreign_key(_SQLITE_NAME, "orgs", ["org_id"], ["id"], ondelete="CASCADE")
