"""A group's memberships are found by index, whatever kind of member they hold: deleting a
group (its foreign key's cascade) must not read every membership of the hub. They go
with their group, their members and their organisation, though no foreign key ties a
membership to its organisation (migration 0011)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from idsync.connectors.hub import HubTarget
from idsync.contract.protocols import Desired
from idsync.manage import orgs
from idsync.store.database import Database
from idsync.store.models import GROUPS, MEMBERSHIPS, ORGS, USERS


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
