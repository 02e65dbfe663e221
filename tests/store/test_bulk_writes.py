"""The sync engine's bulk writes: many rows at once (COPY on PostgreSQL), several pages
in one transaction, and the same answers a row at a time would give."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from idsync.connectors.hub import HubTarget
from idsync.contract.protocols import Desired
from idsync.errors.catalogue import CONCURRENT_CHANGE, NUL_CHARACTER, UNIQUENESS, IdsyncError
from idsync.manage import orgs
from idsync.store import sync_state
from idsync.store.bulk import COPY_FROM_ROWS
from idsync.store.database import Database
from idsync.store.models import GROUPS, MEMBERSHIPS, USERS
from idsync.store.types import utcnow
from tests.conftest import add_file_integration

MANY = COPY_FROM_ROWS + 50


def _target(database: Database) -> HubTarget:
    org = orgs.create_org(database, f"Bulk {uuid.uuid4().hex[:8]}", actor="tests")
    return HubTarget(database, org.id, str(uuid.uuid4()))


def _users(count: int, prefix: str) -> list[Desired]:
    return [
        Desired(f"{prefix}{n}", (("userName", f"{prefix}{n}@contoso.example"),), f"{prefix}{n}")
        for n in range(count)
    ]


def _count(database: Database, table: sa.Table, org_id: str) -> int:
    with database.read() as conn:
        query = sa.select(sa.func.count()).where(table.c.org_id == org_id)
        return int(conn.execute(query).scalar_one())


def test_many_members_go_in_once_and_a_repeat_adds_none(database: Database) -> None:
    target = _target(database)
    users = target.create("user", _users(MANY, "m"))
    [group] = target.create("group", [Desired("g", (("displayName", "Many"),), "Many")])
    members = [(str(group.target_id), "user", str(u.target_id)) for u in users]

    assert target.add_members(members) == MANY
    assert target.add_members(members) == 0  # ON CONFLICT DO NOTHING, as row by row
    # The upsert marks them seen; none is added. A new one among them is.
    assert target.add_members(members, seen="cycle-2") == 0
    [newcomer] = target.create("user", _users(1, "n"))
    members.append((str(group.target_id), "user", str(newcomer.target_id)))
    assert target.add_members(members, seen="cycle-2") == 1
    with database.read() as conn:
        seen = conn.execute(
            sa.select(sa.func.count()).where(
                MEMBERSHIPS.c.group_id == group.target_id, MEMBERSHIPS.c.seen_cycle == "cycle-2"
            )
        ).scalar_one()
    assert seen == MANY + 1
    assert _count(database, MEMBERSHIPS, target.org_id) == MANY + 1


def test_a_big_batch_partly_held_or_repeating_a_member_adds_each_new_one_once(
    database: Database,
) -> None:
    # On PostgreSQL new memberships are copied straight in; a held or repeated one
    # sends the batch through ON CONFLICT DO NOTHING instead, with the same result.
    target = _target(database)
    users = target.create("user", _users(MANY, "p"))
    [group] = target.create("group", [Desired("g", (("displayName", "Part"),), "Part")])
    members = [(str(group.target_id), "user", str(u.target_id)) for u in users]
    assert target.add_members(members[:10]) == 10

    assert target.add_members(members) == MANY - 10
    assert target.add_members([*members[:5], *members[:5]]) == 0
    [late] = target.create("user", _users(1, "q"))
    repeated = (str(group.target_id), "user", str(late.target_id))
    assert target.add_members([repeated] * MANY) == 1
    assert _count(database, MEMBERSHIPS, target.org_id) == MANY + 1


@contextmanager
def _savepoints(database: Database) -> Iterator[list[str]]:
    """The names of the savepoints opened inside the block."""
    names: list[str] = []

    def opened(_conn: object, name: str) -> None:
        names.append(name)

    event.listen(database.engine, "savepoint", opened)
    try:
        yield names
    finally:
        event.remove(database.engine, "savepoint", opened)


def _versions(database: Database, *group_ids: str | None) -> list[int]:
    with database.read() as conn:
        return [
            conn.execute(sa.select(GROUPS.c.version).where(GROUPS.c.id == g)).scalar_one()
            for g in group_ids
        ]


def test_a_group_created_in_the_same_transaction_takes_its_members_as_they_are(
    database: Database,
) -> None:
    """Memberships of ``fresh`` groups only (created in the same transaction, so none of
    their memberships is there yet) go in without a conflict clause (a plain COPY on
    PostgreSQL), each once, and leave the groups at version 1: no one saw them without
    their members. With a group among them that was there before, all go through the
    conflict clause, and only that group is bumped."""
    target = _target(database)
    users = target.create("user", _users(MANY, "f"))
    [old] = target.create("group", [Desired("o", (("displayName", "Old"),), "Old")])
    with database.write():
        [new, newer] = target.create(
            "group",
            [Desired(n, (("displayName", n),), n) for n in ("New", "Newer")],
        )
        fresh = {str(new.target_id), str(newer.target_id)}
        members = [(str(new.target_id), "user", str(u.target_id)) for u in users]
        repeated = members[:3]  # a source that lists a member twice
        with _savepoints(database) as savepoints:
            assert target.add_members([*members, *repeated], fresh=fresh) == MANY
        assert savepoints == []
        mixed = [
            (str(group.target_id), "user", str(u.target_id))
            for group in (newer, old)
            for u in users[:10]
        ]
        assert target.add_members(mixed, fresh=fresh) == 20
    assert _count(database, MEMBERSHIPS, target.org_id) == MANY + 20
    assert _versions(database, new.target_id, newer.target_id, old.target_id) == [1, 1, 2]


def test_a_big_batch_naming_a_missing_member_adds_none_of_it(database: Database) -> None:
    # The check the foreign key (SQLite) or the statement's trigger (PostgreSQL) makes
    # holds for rows copied straight into the table.
    target = _target(database)
    users = target.create("user", _users(MANY, "x"))
    [group] = target.create("group", [Desired("g", (("displayName", "Gone"),), "Gone")])
    members = [(str(group.target_id), "user", str(u.target_id)) for u in users]
    members.append((str(group.target_id), "user", str(uuid.uuid4())))

    if database.is_sqlite:
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
            target.add_members(members)
    else:  # what a member deleted by another transaction meanwhile would cause
        with pytest.raises(IdsyncError) as caught:
            target.add_members(members)
        assert caught.value.error is CONCURRENT_CHANGE
        assert isinstance(caught.value.__cause__, sa.exc.IntegrityError)
        assert "names a user that does not exist" in str(caught.value.__cause__)
    assert _count(database, MEMBERSHIPS, target.org_id) == 0


def _file_integration(database: Database, folder: Path) -> str:
    users = folder / "users.csv"
    users.write_text("id,userName\n")
    return add_file_integration(database, {"users": str(users)}, org_name="Links")


def _links(count: int, digest: str) -> list[dict[str, str | None]]:
    return [
        {
            "source_id": f"s{n}",
            "target_id": f"t{n}",
            "digest": digest,
            "state": "active",
            "seen_cycle": "c1",
            "pending_ref": None,
        }
        for n in range(count)
    ]


def test_links_expected_new_that_are_held_are_upserted_all_the_same(
    database: Database, tmp_path: Path
) -> None:
    integration_id = _file_integration(database, tmp_path)
    with database.write() as conn:
        sync_state.save_links(conn, integration_id, "user", _links(10, "old"))
    with database.write() as conn:
        sync_state.save_links(conn, integration_id, "user", _links(MANY, "new"), expect_new=True)

    with database.read() as conn:
        held = sync_state.links(conn, integration_id, "user", [f"s{n}" for n in range(MANY)])
    assert len(held) == MANY
    assert {link.digest for link in held.values()} == {"new"}


def test_a_clash_in_a_big_batch_fails_only_its_object(database: Database) -> None:
    target = _target(database)
    [taken] = target.create("user", _users(1, "c"))
    batch = _users(MANY, "c")  # c0 is taken: its userName is the first user's
    results = target.create("user", batch)

    failed = [r for r in results if r.error is not None]
    assert [r.source_id for r in failed] == ["c0"]
    assert failed[0].error is not None and failed[0].error.error is UNIQUENESS
    assert taken.error is None
    assert _count(database, USERS, target.org_id) == MANY


def test_a_clash_in_a_small_batch_fails_only_its_objects(database: Database) -> None:
    """A page of a few objects (a page of groups): those that would take a displayName
    held before, or by another object of the same batch, fail alone; the others go in.
    On PostgreSQL with no savepoint (``insert_unless_taken``)."""
    target = _target(database)
    [held] = target.create("group", [Desired("h", (("displayName", "Held"),), "Held")])
    names = ["Held", "Free", "Twin", "twin"]  # displayName is caseExact=false: twins
    batch = [Desired(f"s{n}", (("displayName", name),), name) for n, name in enumerate(names)]
    with _savepoints(database) as savepoints, database.write():
        results = target.create("group", batch)
    assert held.error is None
    failed = {r.source_id: r.error.error for r in results if r.error is not None}
    assert failed == {"s0": UNIQUENESS, "s3": UNIQUENESS}
    assert all(r.target_id for r in results if r.error is None)
    assert _count(database, GROUPS, target.org_id) == 3
    if not database.is_sqlite:
        assert savepoints == []


def test_a_nul_in_a_big_batch_is_the_catalogue_error_where_the_database_refuses_it(
    database: Database,
) -> None:
    target = _target(database)
    batch = [*_users(MANY, "n"), Desired("bad", (("userName", "bad\x00@contoso.example"),), "x")]
    if database.is_sqlite:  # SQLite stores it: the batch goes in whole
        assert all(r.error is None for r in target.create("user", batch))
        assert _count(database, USERS, target.org_id) == MANY + 1
        return
    with pytest.raises(IdsyncError) as caught:  # PostgreSQL refuses it in COPY as in INSERT
        target.create("user", batch)
    assert caught.value.error is NUL_CHARACTER
    assert _count(database, USERS, target.org_id) == 0


def test_a_nul_in_a_big_batch_of_links_is_the_catalogue_error_where_the_database_refuses_it(
    database: Database, tmp_path: Path
) -> None:
    """Links go in COPY's binary format on PostgreSQL: the server, not psycopg, refuses it."""
    integration_id = _file_integration(database, tmp_path)
    links = _links(MANY, "d")
    links[-1]["source_id"] = "s\x00"
    if database.is_sqlite:
        with database.write() as conn:
            sync_state.save_links(conn, integration_id, "user", links, expect_new=True)
        return
    with pytest.raises(IdsyncError) as caught, database.write() as conn:
        sync_state.save_links(conn, integration_id, "user", links, expect_new=True)
    assert caught.value.error is NUL_CHARACTER


def test_many_members_keep_the_time_they_were_added(database: Database) -> None:
    target = _target(database)
    users = target.create("user", _users(MANY, "t"))
    [group] = target.create("group", [Desired("g", (("displayName", "Timed"),), "Timed")])
    before = utcnow()
    target.add_members([(str(group.target_id), "user", str(u.target_id)) for u in users])
    with database.read() as conn:
        added = conn.execute(
            sa.select(MEMBERSHIPS.c.created_at, MEMBERSHIPS.c.owner_integration_id).where(
                MEMBERSHIPS.c.group_id == group.target_id
            )
        ).all()
    assert len(added) == MANY
    assert {owner for _, owner in added} == {target.integration_id}
    [created] = {at for at, _ in added}
    assert before <= created <= utcnow()


def test_writes_inside_a_write_share_its_transaction(database: Database) -> None:
    target = _target(database)
    inside: list[int] = []

    def write_then_fail() -> None:
        with database.write():
            target.create("user", _users(3, "t"))
            inside.append(_count(database, USERS, target.org_id))  # reads through the write
            raise RuntimeError("the outer transaction fails: nothing of it stays")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert inside == [3]
    assert _count(database, USERS, target.org_id) == 0


def test_a_joined_write_that_fails_leaves_the_outer_one_usable(database: Database) -> None:
    target = _target(database)
    with database.write():
        target.create("user", _users(1, "j"))
        # The clash raises inside the joined write; HubTarget retries one by one in
        # savepoints, and the outer transaction (on PostgreSQL: not aborted) goes on.
        results = target.create("user", _users(2, "j"))
        target.create("user", _users(2, "k"))
    assert [r.error is None for r in results] == [False, True]
    assert _count(database, USERS, target.org_id) == 4


def test_another_thread_never_uses_the_open_write(database: Database) -> None:
    target = _target(database)
    seen: list[int] = []
    with database.write():
        target.create("user", _users(2, "x"))

        def count_elsewhere() -> None:
            seen.append(_count(database, USERS, target.org_id))

        thread = threading.Thread(target=count_elsewhere)
        thread.start()
        thread.join()
    assert seen == [0]  # its own connection: the rows were not committed yet
    assert _count(database, USERS, target.org_id) == 2
