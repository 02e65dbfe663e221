"""On PostgreSQL, ids compare byte by byte (COLLATE "C")

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 12:30:00.000000

Ids are UUID strings: only their equality and their byte order mean anything (the
order SQLite's BINARY collation gives them). Under the database's default collation,
PostgreSQL compared them as language text: every index lookup and insert on an id, and
every sort of them, went through the locale's comparison instead of ``memcmp``. A
million memberships (four indexes on ids, and the insert check's lookups) in 100 COPYs
took 13.8-14.3 s on a database whose default collation is ICU's ``en-US``, 9.0-10.2 s
with ids in ``C``; on one whose default is ``C.UTF-8``, 11.5-13.7 s against 10.2-11.1 s.

The columns keep their type: only their indexes are rebuilt. Triggers that name a column
(``UPDATE OF``, migration 0012) are dropped and made again around the change.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Every id column (the models' ``ID``) at this revision.
_IDS: dict[str, tuple[str, ...]] = {
    "alert_settings": ("org_id",),
    "audit_events": ("org_id",),
    "findings": ("id", "org_id", "integration_id"),
    "groups": ("id", "org_id", "owner_integration_id"),
    "integrations": ("id", "org_id"),
    "memberships": (
        "org_id",
        "group_id",
        "user_id",
        "member_group_id",
        "owner_integration_id",
        "seen_cycle",
    ),
    "operator_keys": ("id", "operator_id"),
    "operator_sessions": ("operator_id",),
    "operators": ("id", "org_id"),
    "org_schemas": ("org_id",),
    "orgs": ("id",),
    "provisioning_log": ("org_id", "integration_id", "cycle_id", "target_id"),
    "push_creating": ("integration_id",),
    "push_members": ("integration_id", "seen_cycle"),
    "push_objects": ("integration_id",),
    "sync_cycles": ("id", "integration_id", "org_id"),
    "sync_escrow": ("integration_id",),
    "sync_jobs": ("integration_id", "org_id", "last_cycle_id"),
    "sync_objects": ("integration_id", "target_id", "seen_cycle"),
    "sync_pending": ("integration_id", "target_id", "cycle_id"),
    "sync_pending_members": ("integration_id",),
    "tokens": ("id", "org_id"),
    "users": ("id", "org_id", "owner_integration_id"),
}

_DROP_TRIGGERS = """
DROP TRIGGER idsync_membership_moved ON memberships;
DROP TRIGGER idsync_group_id_changed ON groups;
DROP TRIGGER idsync_user_id_changed ON users;
"""

# As migration 0012 made them.
_CREATE_TRIGGERS = """
CREATE TRIGGER idsync_membership_moved
    AFTER UPDATE OF group_id, user_id, member_group_id ON memberships
    FOR EACH ROW EXECUTE FUNCTION idsync_membership_moved();
CREATE TRIGGER idsync_group_id_changed AFTER UPDATE OF id ON groups
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION idsync_member_id_changed();
CREATE TRIGGER idsync_user_id_changed AFTER UPDATE OF id ON users
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION idsync_member_id_changed();
"""


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_DROP_TRIGGERS)
    for table, columns in _IDS.items():
        changes = ", ".join(
            f'ALTER COLUMN "{column}" TYPE varchar(36) COLLATE {collation}' for column in columns
        )
        op.execute(f'ALTER TABLE "{table}" {changes}')
    op.execute(_CREATE_TRIGGERS)


def upgrade() -> None:
    _collate('"C"')


def downgrade() -> None:
    _collate('"default"')
