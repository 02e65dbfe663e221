"""When a read refreshes PostgreSQL's planner statistics: at every doubling of its pages,
however long it runs (a million-user directory's group phase runs to tens of thousands
of pages, and its first hundreds hold a single group); and of which tables: those the
phase writes and looks up."""

from __future__ import annotations

from pathlib import Path

from idsync.manage import orgs
from idsync.sync.statistics import statistics_due
from tests.conftest import PrivateDatabase
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


def test_a_phase_analyses_the_tables_it_fills_and_looks_up_and_no_other(
    tmp_path: Path, postgres_database: PrivateDatabase
) -> None:
    """On PostgreSQL, a group phase long enough to refresh the statistics analyses the
    groups, their memberships and the links, but not the users it does not write, nor
    the provisioning log it only appends to. The users fit one page here, so the user
    phase refreshes nothing."""
    url, database = postgres_database.url, postgres_database.db
    emulator = start_emulator(tmp_path / "emulator.log", Emulator, users=3, groups=8, seed=7)
    try:
        org = orgs.create_org(database, "Statistics", actor="tests")
        added = add_entra(url, org.id, emulator, "--no-auto-sync", "--page-size", "3")
        assert idsync(url, "sync", "run", added)["status"] == "Active"
    finally:
        emulator.stop()
    with database.read() as conn:
        analysed = {
            name
            for name, when in conn.exec_driver_sql(
                "SELECT relname, last_analyze FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema()"
            )
            if when is not None
        }
    assert analysed == {"groups", "memberships", "sync_objects"}
