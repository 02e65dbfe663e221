"""The database's upkeep beside a cycle. When a read refreshes PostgreSQL's planner
statistics: at every doubling of its pages, however long it runs (a million-user
directory's group phase runs to tens of thousands of pages, and its first hundreds hold a
single group); and of which tables: those the phase writes and looks up. On SQLite, that
the cycle's commits are checkpointed into the database file beside it."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from idsync.config import Settings
from idsync.manage import jobs, orgs
from idsync.store.database import Database, open_database
from idsync.store.migrate import upgrade
from idsync.store.models import USERS
from idsync.sync.upkeep import Upkeep, statistics_due
from tests.conftest import PrivateDatabase, add_file_integration
from tests.entra_emulator import start_emulator
from tests.sync.conftest import Emulator, add_entra, idsync


def test_a_read_page_by_page_refreshes_at_every_power_of_two_without_end() -> None:
    due = [pages for pages in range(1, 40_001) if statistics_due(pages - 1, pages)]
    assert due == [2**k for k in range(1, 16)]


def test_a_batch_of_several_pages_refreshes_once_if_it_passed_a_mark() -> None:
    assert statistics_due(3, 9)  # passed 4 and 8: one refresh
    assert not statistics_due(9, 15)
    assert statistics_due(1_000, 1_030)  # passed 1024, beyond the old last mark (512)


def test_a_one_page_read_refreshes_nothing() -> None:
    assert not statistics_due(0, 1)


def _first_load(tmp_path: Path, private: PrivateDatabase, users: int, groups: int) -> None:
    """A first Entra cycle of a directory this size, in pages of three objects."""
    url, database = private.url, private.db
    emulator = start_emulator(
        tmp_path / "emulator.log", Emulator, users=users, groups=groups, seed=7
    )
    try:
        org = orgs.create_org(database, "Statistics", actor="tests")
        added = add_entra(url, org.id, emulator, "--no-auto-sync", "--page-size", "3")
        assert idsync(url, "sync", "run", added)["status"] == "Active"
    finally:
        emulator.stop()


def _tables_with(database: Database, column: str) -> set[str]:
    """The schema's tables whose ``pg_stat_user_tables.column`` (a last-done time) is set."""
    with database.read() as conn:
        return {
            name
            for name, when in conn.exec_driver_sql(
                f"SELECT relname, {column} FROM pg_stat_user_tables "  # noqa: S608 (constant)
                "WHERE schemaname = current_schema()"
            )
            if when is not None
        }


def test_a_phase_analyses_the_tables_it_fills_and_looks_up_and_no_other(
    tmp_path: Path, postgres_database: PrivateDatabase
) -> None:
    """On PostgreSQL, a group phase long enough to refresh the statistics analyses the
    groups, their memberships and the links, but not the users it does not write, nor
    the provisioning log it only appends to. The users fit one page here, so the user
    phase refreshes nothing."""
    _first_load(tmp_path, postgres_database, users=3, groups=8)
    assert _tables_with(postgres_database.db, "last_analyze") == {
        "groups",
        "memberships",
        "sync_objects",
    }


def test_a_user_phase_that_grew_the_users_vacuums_them_for_the_group_phase(
    tmp_path: Path, postgres_database: PrivateDatabase
) -> None:
    """After a user phase that passed a statistics mark, the users are vacuumed (beside
    the group phase), so their pages are marked all-visible and the membership checks'
    index-only lookups of users need not read them; nothing else is vacuumed."""
    _first_load(tmp_path, postgres_database, users=30, groups=2)
    assert _tables_with(postgres_database.db, "last_vacuum") == {"users"}
    with postgres_database.db.read() as conn:
        visible = conn.exec_driver_sql(
            "SELECT relallvisible FROM pg_class WHERE oid = 'users'::regclass"
        ).scalar_one()
    assert visible >= 1


def _refresh_in_turn(database: Database, *tables: str) -> None:
    with Upkeep(database) as upkeep:
        for table in tables:
            upkeep.refresh([table])


def test_a_refresh_that_fails_fails_the_cycle_when_it_is_met(
    postgres_database: PrivateDatabase,
) -> None:
    """A refresh runs beside the cycle; its error comes out where the cycle meets it (its
    next refresh, or the end), as it did when the cycle ran it itself."""
    database = postgres_database.db
    with pytest.raises(sa.exc.ProgrammingError, match="no_such_table"):
        _refresh_in_turn(database, "no_such_table")  # at the end
    with pytest.raises(sa.exc.ProgrammingError, match="no_such_table"):
        _refresh_in_turn(database, "no_such_table", "users")  # at the next refresh
    _refresh_in_turn(database, "users", "groups")


def _users_in_file(path: Path) -> int:
    """The users the SQLite database file itself holds, without its write-ahead log: what
    checkpoints have copied into it."""
    alone = path.with_name("without-log.db")
    shutil.copyfile(path, alone)
    with closing(sqlite3.connect(alone)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
        except sqlite3.OperationalError:  # the table itself is still only in the log
            return 0


def test_a_checkpoint_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    database = open_database(f"sqlite:///{path}")
    upgrade(database)
    org = orgs.create_org(database, "Checkpoint", actor="tests")
    with database.write() as conn:
        conn.execute(
            sa.insert(USERS),
            [
                {
                    "id": f"u{n}",
                    "org_id": org.id,
                    "user_name": f"u{n}",
                    "user_name_key": f"u{n}",
                    "doc": {},
                }
                for n in range(5)
            ],
        )
    assert _users_in_file(path) == 0  # in the log, under its size limit
    database.checkpoint_wal()
    assert _users_in_file(path) == 5
    database.dispose()


def test_on_sqlite_a_cycle_has_its_commits_checkpointed_beside_it(tmp_path: Path) -> None:
    """After the cycle's commits, the helper copies the log into the database file (the
    log stays far under its size limit here, so no commit would have)."""
    path = tmp_path / "hub.db"
    database = open_database(f"sqlite:///{path}")
    upgrade(database)
    users = tmp_path / "users.csv"
    users.write_text("id,userName\n" + "".join(f"{n},u{n}@example.org\n" for n in range(20)))
    integration_id = add_file_integration(database, {"users": str(users)}, org_name="WAL")
    report = jobs.run_cycle(database, Settings.from_env(), integration_id)
    assert report.status == "Active", (report.reason_code, report.reason)
    assert report.counts["create"] == 20
    assert _users_in_file(path) == 20
    database.dispose()
