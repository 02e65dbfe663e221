"""A group's memberships are found by index, whatever kind of member they hold: deleting a
group (its foreign key's cascade) must not read every membership of the hub.

A membership names an existing group and member, and goes with either and with its
organisation, on both databases: by foreign keys on SQLite, by triggers on PostgreSQL
(migrations 0012, 0014 and 0016), with which a deletion waits for the memberships being
added in its org, as two transactions racing a deletion show. No foreign key ties a membership
to its organisation (migration 0011)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from idsync.connectors.hub import HubTarget
from idsync.contract.protocols import Desired
from idsync.errors.catalogue import IdsyncError
from idsync.manage import orgs
from idsync.store.bulk import insert_tuples, timestamp
from idsync.store.database import Database
from idsync.store.models import GROUPS, MEMBERSHIPS, ORGS, USERS
from idsync.store.types import utcnow
from tests.conftest import PrivateDatabase


def _plan(database: Database, statement: sa.Executable) -> str:
    """How the database would run ``statement``, told to avoid reading whole tables: a
    scan remains only where no index can answer."""
    with database.read() as conn:
        compiled = statement.compile(conn, compile_kwargs={"literal_binds": True})
        if database.is_sqlite:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled}")
        return " ".join(str(row[-1]) for row in rows)


def _nested_groups(database: Database) -> tuple[HubTarget, str, str, str]:
    """A parent group holding a user and a child group, and another group with the user."""
    org = orgs.create_org(database, f"Nest {uuid.uuid4().hex[:8]}", actor="tests")
    target = HubTarget(database, org.id, str(uuid.uuid4()))
    [user] = target.create("user", [Desired("u", (("userName", "u@contoso.example"),), "u")])
    parent, child, other = (
        str(group.target_id)
        for group in target.create(
            "group",
            [Desired(name, (("displayName", name),), name) for name in ("P", "C", "O")],
        )
    )
    user_id = str(user.target_id)
    target.add_members(
        [(parent, "user", user_id), (parent, "group", child), (other, "user", user_id)]
    )
    return target, parent, child, other


def test_a_groups_memberships_of_either_kind_are_found_by_index(database: Database) -> None:
    _, parent, _, _ = _nested_groups(database)

    plan = _plan(database, sa.delete(MEMBERSHIPS).where(MEMBERSHIPS.c.group_id == parent))

    assert "ux_memberships_group_user" in plan, plan
    assert "SCAN memberships" not in plan and "Seq Scan" not in plan, plan


def test_deleting_a_group_removes_its_memberships_and_no_other(database: Database) -> None:
    _, parent, child, other = _nested_groups(database)

    with database.write() as conn:
        conn.execute(sa.delete(GROUPS).where(GROUPS.c.id == parent))
        left = conn.execute(
            sa.select(MEMBERSHIPS.c.group_id, MEMBERSHIPS.c.member_group_id).where(
                MEMBERSHIPS.c.group_id.in_([parent, child, other])
            )
        ).all()

    assert [(group_id, nested) for group_id, nested in left] == [(other, None)]


def test_deleting_a_nested_group_takes_it_out_of_its_parent(database: Database) -> None:
    _, parent, child, other = _nested_groups(database)

    with database.write() as conn:
        conn.execute(sa.delete(GROUPS).where(GROUPS.c.id == child))
        left = conn.execute(
            sa.select(MEMBERSHIPS.c.group_id, MEMBERSHIPS.c.member_group_id).where(
                MEMBERSHIPS.c.group_id.in_([parent, other])
            )
        ).all()

    assert sorted((group_id, nested) for group_id, nested in left) == sorted(
        [(parent, None), (other, None)]
    )


def _memberships_of(database: Database, org_id: str) -> int:
    with database.read() as conn:
        query = sa.select(sa.func.count()).where(MEMBERSHIPS.c.org_id == org_id)
        return int(conn.execute(query).scalar_one())


def test_deleting_a_member_removes_its_memberships(database: Database) -> None:
    target, parent, child, _ = _nested_groups(database)

    with database.write() as conn:
        conn.execute(sa.delete(USERS).where(USERS.c.org_id == target.org_id))
        left = conn.execute(
            sa.select(MEMBERSHIPS.c.group_id, MEMBERSHIPS.c.member_group_id).where(
                MEMBERSHIPS.c.org_id == target.org_id
            )
        ).all()

    assert [(group_id, nested) for group_id, nested in left] == [(parent, child)]


def test_deleting_an_organisation_removes_its_memberships_and_no_others(
    database: Database,
) -> None:
    gone, _, _, _ = _nested_groups(database)
    kept, _, _, _ = _nested_groups(database)

    with database.write() as conn:
        conn.execute(sa.delete(ORGS).where(ORGS.c.id == gone.org_id))

    assert _memberships_of(database, gone.org_id) == 0
    assert _memberships_of(database, kept.org_id) == 3


def _insert_membership(conn: sa.Connection, org_id: str, group_id: str, user_id: str) -> None:
    conn.execute(
        sa.insert(MEMBERSHIPS).values(
            org_id=org_id, group_id=group_id, user_id=user_id, created_at=utcnow()
        )
    )


@pytest.mark.parametrize("missing", ["group", "user"])
def test_a_membership_of_a_missing_group_or_user_is_refused(
    database: Database, missing: str
) -> None:
    target, parent, _, _ = _nested_groups(database)
    user_id = _user_of(database, target.org_id)
    group_id = str(uuid.uuid4()) if missing == "group" else parent
    member_id = str(uuid.uuid4()) if missing == "user" else user_id

    with pytest.raises(sa.exc.IntegrityError), database.engine.begin() as conn:
        # A second membership of a real pair would clash on the unique index: a new
        # group for the user, or a new member for the group, is named instead.
        _insert_membership(conn, target.org_id, group_id, member_id)


def test_a_membership_of_a_missing_member_group_is_refused(database: Database) -> None:
    target, _, _, other = _nested_groups(database)

    with pytest.raises(sa.exc.IntegrityError), database.engine.begin() as conn:
        conn.execute(
            sa.insert(MEMBERSHIPS).values(
                org_id=target.org_id,
                group_id=other,
                member_group_id=str(uuid.uuid4()),
                created_at=utcnow(),
            )
        )


def test_one_missing_user_among_many_new_memberships_fails_them_all(
    database: Database,
) -> None:
    """As a first load writes them: hundreds of rows in one statement (a COPY on
    PostgreSQL); the one row naming no user is found."""
    target, _, _, other = _nested_groups(database)
    desired = [
        Desired(f"m{n}", (("userName", f"m{n}@contoso.example"),), f"m{n}") for n in range(299)
    ]
    users = [str(user.target_id) for user in target.create("user", desired)]
    now = timestamp(database.dialect, utcnow())
    rows = [
        (target.org_id, other, user, now)
        for user in [*users[:150], str(uuid.uuid4()), *users[150:]]
    ]
    names = ("org_id", "group_id", "user_id", "created_at")

    refused = (sa.exc.IntegrityError, IdsyncError)  # PostgreSQL's 23503 as a write reports it
    with pytest.raises(refused) as raised, database.write() as conn:
        insert_tuples(conn, MEMBERSHIPS.insert(), names, rows)

    if not database.is_sqlite:
        assert "names a user that does not exist" in str(raised.value.__cause__)
    with database.read() as conn:
        held = conn.execute(
            sa.select(sa.func.count()).where(MEMBERSHIPS.c.group_id == other)
        ).scalar_one()
    assert held == 1  # the user it held before, and none of the 300


def _user_of(database: Database, org_id: str) -> str:
    with database.read() as conn:
        query = sa.select(USERS.c.id).where(USERS.c.org_id == org_id)
        return str(conn.execute(query).scalar_one())


def _a_user_and_a_group_without_them(database: Database) -> tuple[str, str, str]:
    """An org's id, its one user's, and a group of that org the user is not in."""
    target, _, _, _ = _nested_groups(database)
    [newcomer] = target.create("group", [Desired("N", (("displayName", "N"),), "N")])
    return target.org_id, _user_of(database, target.org_id), str(newcomer.target_id)


# PostgreSQL only: SQLite runs one writing transaction at a time, so none interleave.
def _two_sessions(database: Database) -> tuple[sa.Connection, sa.Connection]:
    first, second = database.engine.connect(), database.engine.connect()
    second.exec_driver_sql("SET lock_timeout = '300ms'")
    return first, second


def test_deleting_a_user_waits_for_a_membership_being_added_then_takes_it(
    postgres_database: PrivateDatabase,
) -> None:
    database = postgres_database.db
    org_id, user_id, group_id = _a_user_and_a_group_without_them(database)
    adding, deleting = _two_sessions(database)
    try:
        _insert_membership(adding, org_id, group_id, user_id)
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            deleting.execute(sa.delete(USERS).where(USERS.c.id == user_id))
        deleting.rollback()
        adding.commit()
        deleting.execute(sa.delete(USERS).where(USERS.c.id == user_id))
        deleting.commit()
    finally:
        adding.close()
        deleting.close()

    with database.read() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(MEMBERSHIPS.c.user_id == user_id)
        ).scalar_one()
    assert left == 0


def test_adding_a_member_that_another_transaction_deleted_fails(
    postgres_database: PrivateDatabase,
) -> None:
    database = postgres_database.db
    org_id, user_id, group_id = _a_user_and_a_group_without_them(database)
    deleting, adding = _two_sessions(database)
    try:
        deleting.execute(sa.delete(USERS).where(USERS.c.id == user_id))
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            _insert_membership(adding, org_id, group_id, user_id)
        adding.rollback()
        deleting.commit()
        with pytest.raises(sa.exc.IntegrityError):
            _insert_membership(adding, org_id, group_id, user_id)
    finally:
        deleting.close()
        adding.close()


def test_a_deletion_holds_up_memberships_of_its_own_org_only(
    postgres_database: PrivateDatabase,
) -> None:
    database = postgres_database.db
    _, user_id, _ = _a_user_and_a_group_without_them(database)
    elsewhere = _a_user_and_a_group_without_them(database)
    deleting, adding = _two_sessions(database)
    try:
        deleting.execute(sa.delete(USERS).where(USERS.c.id == user_id))
        other_org, other_user, other_group = elsewhere
        _insert_membership(adding, other_org, other_group, other_user)  # no wait
        adding.commit()
        assert _memberships_of(database, other_org) == 4
    finally:
        deleting.rollback()
        deleting.close()
        adding.close()


def test_memberships_added_together_do_not_wait_for_each_other(
    postgres_database: PrivateDatabase,
) -> None:
    database = postgres_database.db
    org_id, user_id, group_id = _a_user_and_a_group_without_them(database)
    with database.read() as conn:
        child = conn.execute(  # nested in P, without the user
            sa.select(GROUPS.c.id).where(GROUPS.c.org_id == org_id, GROUPS.c.display_name == "C")
        ).scalar_one()
    first, second = _two_sessions(database)
    try:
        _insert_membership(first, org_id, group_id, user_id)
        _insert_membership(second, org_id, child, user_id)
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()
    assert _memberships_of(database, org_id) == 3 + 2


def test_under_repeatable_read_a_member_deleted_since_the_snapshot_is_refused(
    postgres_database: PrivateDatabase,
) -> None:
    """The org's lock makes an insert wait for a deletion, but a REPEATABLE READ statement
    reads its transaction's snapshot, taken before: there the check locks the rows."""
    database = postgres_database.db
    org_id, user_id, group_id = _a_user_and_a_group_without_them(database)
    adding, deleting = _two_sessions(database)
    try:
        adding.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        adding.exec_driver_sql("SELECT 1")  # the snapshot: the user is there
        deleting.execute(sa.delete(USERS).where(USERS.c.id == user_id))
        deleting.commit()
        with pytest.raises(sa.exc.OperationalError, match="could not serialize"):
            _insert_membership(adding, org_id, group_id, user_id)
    finally:
        adding.rollback()
        adding.close()
        deleting.close()


def test_a_membership_cannot_be_moved_to_a_missing_member(database: Database) -> None:
    _, parent, _, _ = _nested_groups(database)
    moved = (
        sa.update(MEMBERSHIPS)
        .where(MEMBERSHIPS.c.group_id == parent, MEMBERSHIPS.c.user_id.is_not(None))
        .values(user_id=str(uuid.uuid4()))
    )

    with pytest.raises(sa.exc.IntegrityError), database.engine.begin() as conn:
        conn.execute(moved)


def test_the_id_of_a_member_in_a_group_cannot_change(database: Database) -> None:
    target, _, _, _ = _nested_groups(database)
    renumbered = (
        sa.update(USERS).where(USERS.c.org_id == target.org_id).values(id=str(uuid.uuid4()))
    )

    with pytest.raises(sa.exc.IntegrityError), database.engine.begin() as conn:
        conn.execute(renumbered)
