"""On PostgreSQL, a membership's group and member are checked once per statement

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:30:00.000000

PostgreSQL checks a foreign key row by row: one query per key per inserted row. A
membership has two (its group, its member), and a first load of a million-user
directory inserts ten million memberships: the checks were 11 s of the 20 s a million
memberships took (measured, COPY then ``INSERT … SELECT`` in batches of 50,000).

These triggers keep what the foreign keys guaranteed, for a whole statement at once:

* after an insert, every group and user the new rows name exists; they are locked
  ``FOR KEY SHARE`` as the foreign key's own check locks them, so a transaction
  deleting one waits for this one, and one that deleted one first fails this insert
  (SQLSTATE 23503, as the foreign key would);
* a membership's group or member is never changed to one that does not exist;
* deleting groups or users deletes their memberships (the cascade), in one statement;
* a group's or user's id is never changed while memberships refer to it.

Each function keeps the search path it was created with: the tables it names are its
own schema's, whoever's session fires it. SQLite keeps its foreign keys: it checks them
in-process, about 1 µs each.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_KEYS = (("group_id", "groups"), ("user_id", "users"), ("member_group_id", "groups"))

_FUNCTIONS = """
CREATE FUNCTION idsync_memberships_parents_exist() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    named bigint;
    locked bigint;
BEGIN
    SELECT count(*) INTO named FROM (
        SELECT group_id FROM added
        UNION SELECT member_group_id FROM added WHERE member_group_id IS NOT NULL
    ) AS ids;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM groups AS g
        WHERE g.id IN (
            SELECT group_id FROM added
            UNION ALL SELECT member_group_id FROM added WHERE member_group_id IS NOT NULL
        )
        FOR KEY SHARE OF g
    ) AS found;
    IF locked <> named THEN
        RAISE foreign_key_violation USING MESSAGE =
            'insert into "memberships" names a group that does not exist';
    END IF;
    SELECT count(DISTINCT user_id) INTO named FROM added;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM users AS u WHERE u.id IN (SELECT user_id FROM added)
        FOR KEY SHARE OF u
    ) AS found;
    IF locked <> named THEN
        RAISE foreign_key_violation USING MESSAGE =
            'insert into "memberships" names a user that does not exist';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION idsync_membership_moved() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM groups WHERE id = NEW.group_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE foreign_key_violation USING MESSAGE =
            'update of "memberships" names a group that does not exist';
    END IF;
    IF NEW.member_group_id IS NOT NULL THEN
        PERFORM 1 FROM groups WHERE id = NEW.member_group_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE foreign_key_violation USING MESSAGE =
                'update of "memberships" names a group that does not exist';
        END IF;
    END IF;
    IF NEW.user_id IS NOT NULL THEN
        PERFORM 1 FROM users WHERE id = NEW.user_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE foreign_key_violation USING MESSAGE =
                'update of "memberships" names a user that does not exist';
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION idsync_groups_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM memberships AS m USING gone WHERE m.group_id = gone.id;
    DELETE FROM memberships AS m USING gone WHERE m.member_group_id = gone.id;
    RETURN NULL;
END $$;

CREATE FUNCTION idsync_users_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM memberships AS m USING gone WHERE m.user_id = gone.id;
    RETURN NULL;
END $$;

CREATE FUNCTION idsync_member_id_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM memberships
    WHERE group_id = OLD.id OR user_id = OLD.id OR member_group_id = OLD.id
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE =
            'the id of a group or user that memberships refer to cannot change';
    END IF;
    RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER idsync_memberships_parents_exist AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION idsync_memberships_parents_exist();
CREATE TRIGGER idsync_membership_moved
    AFTER UPDATE OF group_id, user_id, member_group_id ON memberships
    FOR EACH ROW EXECUTE FUNCTION idsync_membership_moved();
CREATE TRIGGER idsync_groups_deleted AFTER DELETE ON groups
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION idsync_groups_deleted();
CREATE TRIGGER idsync_users_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION idsync_users_deleted();
CREATE TRIGGER idsync_group_id_changed AFTER UPDATE OF id ON groups
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION idsync_member_id_changed();
CREATE TRIGGER idsync_user_id_changed AFTER UPDATE OF id ON users
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION idsync_member_id_changed();
"""

_DROP = """
DROP TRIGGER IF EXISTS idsync_memberships_parents_exist ON memberships;
DROP TRIGGER IF EXISTS idsync_membership_moved ON memberships;
DROP TRIGGER IF EXISTS idsync_groups_deleted ON groups;
DROP TRIGGER IF EXISTS idsync_users_deleted ON users;
DROP TRIGGER IF EXISTS idsync_group_id_changed ON groups;
DROP TRIGGER IF EXISTS idsync_user_id_changed ON users;
DROP FUNCTION IF EXISTS idsync_memberships_parents_exist();
DROP FUNCTION IF EXISTS idsync_membership_moved();
DROP FUNCTION IF EXISTS idsync_groups_deleted();
DROP FUNCTION IF EXISTS idsync_users_deleted();
DROP FUNCTION IF EXISTS idsync_member_id_changed();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for key in sa.inspect(op.get_bind()).get_foreign_keys("memberships"):
        if key["name"] is not None:
            op.drop_constraint(key["name"], "memberships", type_="foreignkey")
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_DROP)
    for column, table in _KEYS:
        op.create_foreign_key(None, "memberships", table, [column], ["id"], ondelete="CASCADE")
