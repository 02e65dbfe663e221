"""On PostgreSQL, memberships and the deletion of their members meet on one lock per org

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:00:00.000000

Migration 0012's check locked every group and user a statement's new memberships name
``FOR KEY SHARE``, as a foreign key does, so that a concurrent deletion waits for the
insert. A row lock is a write: it marks the row's tuple and logs it. A first load's group
pages name most of the directory's users in every transaction, so a 100,000-user load
locked about a million user rows, 7.5 of the 27 s its memberships took on the server
(``pg_stat_statements``).

The same guarantee now comes from one lock per org (PostgreSQL's transaction-scoped
advisory lock, keyed by the org's id): whoever writes memberships holds it shared, whoever
deletes groups or users (or changes their ids) holds it exclusively, each until its
transaction ends. So:

* a deletion waits for the transactions writing memberships in its org, then deletes
  the memberships they wrote (its statements read after the wait);
* an insert after a deletion waits for it to commit, then finds the member gone and
  fails (SQLSTATE 23503, as the foreign key would);
* inserts do not wait for each other, nor for anything in another org.

The price: a deletion of a user or group waits for every transaction writing memberships
in its org, not only those naming that member (a sync cycle commits at least every
second). Under REPEATABLE READ or SERIALIZABLE a statement reads the transaction's
snapshot, not what the wait let commit, so there the check keeps 0012's row locks; idsync
writes at READ COMMITTED.
"""

from __future__ import annotations

from alembic import op

from idsync.store.migrations.revisions import earlier_revision

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_KEY = """
CREATE FUNCTION idsync_membership_lock_key(org text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT hashtextextended('memberships:' || org, 0) $$;
"""


def _parents_exist(lock: str) -> str:
    """The check that every group and user named by the new rows (``added``) exists, each
    found row locked by ``lock`` (a locking clause, or nothing)."""
    return f"""
        SELECT count(*) INTO named FROM (
            SELECT group_id FROM added
            UNION SELECT member_group_id FROM added WHERE member_group_id IS NOT NULL
        ) AS ids;
        SELECT count(*) INTO found FROM (
            SELECT 1 FROM groups AS g
            WHERE g.id IN (
                SELECT group_id FROM added
                UNION ALL SELECT member_group_id FROM added WHERE member_group_id IS NOT NULL
            )
            {lock.format(table="g")}
        ) AS rows;
        IF found <> named THEN
            RAISE foreign_key_violation USING MESSAGE =
                'insert into "memberships" names a group that does not exist';
        END IF;
        SELECT count(DISTINCT user_id) INTO named FROM added;
        SELECT count(*) INTO found FROM (
            SELECT 1 FROM users AS u WHERE u.id IN (SELECT user_id FROM added)
            {lock.format(table="u")}
        ) AS rows;
        IF found <> named THEN
            RAISE foreign_key_violation USING MESSAGE =
                'insert into "memberships" names a user that does not exist';
        END IF;"""  # noqa: S608 (constants only)


# Keys sorted, so that statements spanning several orgs take their locks in one order.
_INSERTED = f"""
CREATE OR REPLACE FUNCTION idsync_memberships_parents_exist() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    named bigint;
    found bigint;
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        PERFORM pg_advisory_xact_lock_shared(key) FROM (
            SELECT DISTINCT idsync_membership_lock_key(org_id) AS key FROM added ORDER BY key
        ) AS keys;{_parents_exist("")}
    ELSE{_parents_exist("FOR KEY SHARE OF {table}")}
    END IF;
    RETURN NULL;
END $$;
"""  # noqa: S608 (constants only)

_OTHERS = """
CREATE OR REPLACE FUNCTION idsync_membership_moved() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(idsync_membership_lock_key(NEW.org_id));
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

CREATE OR REPLACE FUNCTION idsync_groups_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(key) FROM (
        SELECT DISTINCT idsync_membership_lock_key(org_id) AS key FROM gone ORDER BY key
    ) AS keys;
    DELETE FROM memberships AS m USING gone WHERE m.group_id = gone.id;
    DELETE FROM memberships AS m USING gone WHERE m.member_group_id = gone.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION idsync_users_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(key) FROM (
        SELECT DISTINCT idsync_membership_lock_key(org_id) AS key FROM gone ORDER BY key
    ) AS keys;
    DELETE FROM memberships AS m USING gone WHERE m.user_id = gone.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION idsync_member_id_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(idsync_membership_lock_key(OLD.org_id));
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_KEY)
    op.execute(_INSERTED)
    op.execute(_OTHERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # 0012's functions again; none of them calls the key function.
    before = earlier_revision("0012_memberships_checked_per_statement.py")
    op.execute(before._FUNCTIONS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("DROP FUNCTION IF EXISTS idsync_membership_lock_key(text)")
