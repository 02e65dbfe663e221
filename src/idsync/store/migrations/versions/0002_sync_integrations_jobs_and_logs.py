"""sync integrations jobs and logs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:50:33.418063
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


# Membership indexes become partial (see models.MEMBERSHIPS): each row is indexed
# only for the kind of member it holds.
_MEMBERSHIP_INDEXES = (
    ("ux_memberships_group_user", ["group_id", "user_id"], True, "user_id IS NOT NULL"),
    (
        "ux_memberships_group_group",
        ["group_id", "member_group_id"],
        True,
        "member_group_id IS NOT NULL",
    ),
    ("ix_memberships_user", ["user_id"], False, "user_id IS NOT NULL"),
    ("ix_memberships_member_group", ["member_group_id"], False, "member_group_id IS NOT NULL"),
)


def _partial(condition: str | None) -> dict[str, Any]:
    if condition is None:
        return {}
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def _membership_indexes(partial: bool) -> None:
    for name, columns, unique, condition in _MEMBERSHIP_INDEXES:
        op.drop_index(name, table_name="memberships")
        op.create_index(
            name, "memberships", columns, unique=unique, **_partial(condition if partial else None)
        )


def upgrade() -> None:
    _membership_indexes(partial=True)
    op.create_table(
        "integrations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("matching_attribute", sa.String(length=100), nullable=False),
        sa.Column(
            "mappings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "scoping",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("auto_sync", sa.Boolean(), nullable=False),
        sa.Column("deletion_threshold", sa.Integer(), nullable=False),
        sa.Column("adopt_existing", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.create_index("ux_integrations_org_name", ["org_id", "name_key"], unique=True)

    op.create_table(
        "provisioning_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("cycle_id", sa.String(length=36), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=True),
        sa.Column("display", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("step", sa.String(length=10), nullable=False),
        sa.Column("error_code", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recommended_action", sa.Text(), nullable=True),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("provisioning_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provisioning_log_integration", ["integration_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_provisioning_log_source", ["integration_id", "source_id"], unique=False
        )

    op.create_table(
        "sync_cycles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "timings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_code", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_cycles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_cycles_integration", ["integration_id", "started_at"], unique=False
        )

    op.create_table(
        "sync_escrow",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("source_id", sa.String(length=300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id", "object_type", "source_id"),
    )
    op.create_table(
        "sync_jobs",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason_code", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "watermark",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "checkpoint",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("successive_failures", sa.Integer(), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running_by", sa.String(length=200), nullable=True),
        sa.Column("last_cycle_id", sa.String(length=36), nullable=True),
        sa.Column("last_cycle_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id"),
    )
    op.create_table(
        "sync_objects",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("source_id", sa.String(length=300), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=True),
        sa.Column("digest", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("seen_cycle", sa.String(length=36), nullable=True),
        sa.Column("pending_ref", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id", "object_type", "source_id"),
    )
    with op.batch_alter_table("sync_objects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_objects_target", ["integration_id", "target_id"], unique=False
        )
        batch_op.create_index(
            "ix_sync_objects_pending_ref",
            ["integration_id", "pending_ref"],
            unique=False,
            **_partial("pending_ref IS NOT NULL"),
        )

    op.create_table(
        "sync_pending",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("source_id", sa.String(length=300), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cycle_id", sa.String(length=36), nullable=False),
        sa.Column("staged", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id", "object_type", "source_id"),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_integration_id", sa.String(length=36), nullable=True))

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_integration_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("seen_cycle", sa.String(length=36), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_integration_id", sa.String(length=36), nullable=True))

    op.create_table(
        "sync_pending_members",
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("group_source_id", sa.String(length=300), nullable=False),
        sa.Column("member_type", sa.String(length=10), nullable=False),
        sa.Column("member_source_id", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(
            "integration_id", "group_source_id", "member_type", "member_source_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("sync_pending_members")
    _membership_indexes(partial=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("owner_integration_id")

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("seen_cycle")
        batch_op.drop_column("owner_integration_id")

    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("owner_integration_id")

    op.drop_table("sync_pending")
    with op.batch_alter_table("sync_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_objects_pending_ref")
        batch_op.drop_index("ix_sync_objects_target")

    op.drop_table("sync_objects")
    op.drop_table("sync_jobs")
    op.drop_table("sync_escrow")
    with op.batch_alter_table("sync_cycles", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_cycles_integration")

    op.drop_table("sync_cycles")
    with op.batch_alter_table("provisioning_log", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioning_log_source")
        batch_op.drop_index("ix_provisioning_log_integration")

    op.drop_table("provisioning_log")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_index("ux_integrations_org_name")

    op.drop_table("integrations")
