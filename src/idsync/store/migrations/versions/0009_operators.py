"""Operators of the console and the management API, their sessions and API keys; the
org's directory-sync switch

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _when() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def _operator() -> sa.Column[Any]:
    return sa.Column(
        "operator_id",
        sa.String(36),
        sa.ForeignKey("operators.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    with op.batch_alter_table("orgs") as batch_op:
        batch_op.add_column(
            sa.Column(
                "directory_sync", sa.Boolean(), nullable=False, server_default=sa.text("true")
            )
        )
    op.create_table(
        "operators",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column(
            "org_id",
            sa.String(36),
            sa.ForeignKey("orgs.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("locked_until", _when(), nullable=True),
        sa.Column("last_sign_in_at", _when(), nullable=True),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        _operator(),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
        sa.Column("last_seen_at", _when(), nullable=False),
    )
    op.create_table(
        "operator_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        _operator(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("last_used_at", _when(), nullable=True),
        sa.Column("revoked_at", _when(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("operator_keys")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
    with op.batch_alter_table("orgs") as batch_op:
        batch_op.drop_column("directory_sync")
