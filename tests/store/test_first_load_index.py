"""A first load of a directory's groups defers the index of memberships by user and
rebuilds it when its phase ends, or at the next group phase after a load that was
killed (see ``store.bulk.defer_member_index``); on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from idsync.connectors.hub import HubTarget
from idsync.contract.protocols import Desired
from idsync.manage import orgs
from idsync.store.bulk import DEFER_INDEX_FROM_USERS, defer_member_index
from idsync.store.database import Database
from idsync.store.models import MEMBERSHIPS
from tests.conftest import PrivateDatabase

INDEX = "ix_memberships_user"


def _loaded_users(database: Database, count: int) -> tuple[HubTarget, list[str]]:
    """A new org's target holding ``count`` users (as a first cycle's user phase leaves it)."""
    org = orgs.create_org(database, f"Load {uuid.uuid4().hex[:8]}", actor="tests")
    target = HubTarget(database, org.id, str(uuid.uuid4()))
    desired = [
        Desired(f"u{n}", (("userName", f"u{n}@contoso.example"),), f"u{n}") for n in range(count)
    ]
    return target, [str(user.target_id) for user in target.create("user", desired)]


def has_member_index(database: Database) -> bool:
    """Whether the index of memberships by user exists (read from the schema itself)."""
    with database.read() as conn:
        return sa.inspect(conn).has_index(MEMBERSHIPS.name, INDEX)


def _groups_of(database: Database, user_id: str) -> tuple[list[str], str]:
    """The user's groups, and how SQLite or PostgreSQL plans finding them."""
    query = sa.select(MEMBERSHIPS.c.group_id).where(MEMBERSHIPS.c.user_id == user_id)
    with database.read() as conn:
        groups = list(conn.execute(query).scalars())
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN " if database.is_sqlite else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"{prefix}{compiled}"))
    return groups, plan


def _add_everyone(target: HubTarget, users: list[str]) -> str:
    [group] = target.create("group", [Desired("all", (("displayName", "All"),), "All")])
    target.add_members([(str(group.target_id), "user", user) for user in users])
    return str(group.target_id)


def test_a_first_load_of_groups_loads_without_the_index_and_ends_with_it(
    private_database: PrivateDatabase,
) -> None:
    database = private_database.db
    target, users = _loaded_users(database, DEFER_INDEX_FROM_USERS)

    with target.phase("group", initial=True):
        assert not has_member_index(database)
        group_id = _add_everyone(target, users)
        assert _groups_of(database, users[0])[0] == [group_id]  # found, if by a scan

    assert has_member_index(database)
    groups, plan = _groups_of(database, users[-1])
    assert groups == [group_id]
    assert INDEX in plan, plan


def test_a_first_load_that_fails_still_rebuilds_the_index(
    private_database: PrivateDatabase,
) -> None:
    database = private_database.db
    target, users = _loaded_users(database, DEFER_INDEX_FROM_USERS)

    def load_then_fail() -> None:
        with target.phase("group", initial=True):
            _add_everyone(target, users)
            raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="went away"):
        load_then_fail()

    assert has_member_index(database)


def test_the_next_group_phase_rebuilds_an_index_a_killed_first_load_left_missing(
    private_database: PrivateDatabase,
) -> None:
    database = private_database.db
    target, users = _loaded_users(database, DEFER_INDEX_FROM_USERS)
    with database.write() as conn:  # what a first load killed in its group phase leaves
        defer_member_index(conn, len(users))
    assert not has_member_index(database)

    with target.phase("group", initial=False):
        assert has_member_index(database)


def test_a_hub_holding_more_memberships_than_the_load_brings_keeps_the_index(
    private_database: PrivateDatabase,
) -> None:
    database = private_database.db
    held, members = _loaded_users(database, DEFER_INDEX_FROM_USERS)
    _add_everyone(held, members)  # another org's memberships, as many as the new org's users
    target, _ = _loaded_users(database, DEFER_INDEX_FROM_USERS)

    with target.phase("group", initial=True):
        assert has_member_index(database)


def test_a_small_first_load_keeps_the_index(private_database: PrivateDatabase) -> None:
    database = private_database.db
    target, users = _loaded_users(database, DEFER_INDEX_FROM_USERS - 1)

    with target.phase("group", initial=True):
        assert has_member_index(database)
        _add_everyone(target, users)
