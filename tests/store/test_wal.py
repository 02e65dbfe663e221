"""SQLite's WAL: a request's commit checkpoints once the WAL passes 40 MB; a sync cycle's
bulk transactions let it grow to 400 MB, checkpoint when the cycle says so, and leave
the connection they used checkpointing as a request's does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from idsync.store.database import BULK_CHECKPOINT_PAGES, WAL_CHECKPOINT_PAGES, Database

MEGABYTE = b"x" * (1 << 20)
OVER_THE_REQUEST_THRESHOLD = WAL_CHECKPOINT_PAGES * 4096 // (1 << 20) + 10  # MB


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with database.write() as conn:
        conn.exec_driver_sql("CREATE TABLE blobs (data BLOB)")
    return database


def _write_megabytes(db: Database, count: int, *, bulk: bool) -> None:
    with db.write(bulk=bulk) as conn:
        for _ in range(count):
            conn.exec_driver_sql("INSERT INTO blobs VALUES (?)", (MEGABYTE,))


def _in_database_file(db: Database) -> int:
    """Bytes checkpointed into the database file so far (the WAL holds the rest)."""
    assert db.url.database is not None
    return os.path.getsize(db.url.database)


def _autocheckpoint(db: Database) -> int:
    """The setting of the pool's last used connection (the pool hands them out LIFO)."""
    with db.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_a_request_s_commit_over_the_threshold_checkpoints(db: Database) -> None:
    _write_megabytes(db, OVER_THE_REQUEST_THRESHOLD, bulk=False)
    assert _in_database_file(db) > WAL_CHECKPOINT_PAGES * 4096


def test_a_bulk_commit_leaves_the_wal_until_the_cycle_checkpoints(db: Database) -> None:
    assert OVER_THE_REQUEST_THRESHOLD * (1 << 20) < BULK_CHECKPOINT_PAGES * 4096
    _write_megabytes(db, OVER_THE_REQUEST_THRESHOLD, bulk=True)
    assert _in_database_file(db) < 1 << 20
    assert _autocheckpoint(db) == WAL_CHECKPOINT_PAGES  # the connection as it was

    db.checkpoint()
    assert _in_database_file(db) > WAL_CHECKPOINT_PAGES * 4096


def test_a_failed_bulk_write_also_leaves_the_connection_as_it_was(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write(bulk=True):
        raise RuntimeError("a page failed")
    assert _autocheckpoint(db) == WAL_CHECKPOINT_PAGES
