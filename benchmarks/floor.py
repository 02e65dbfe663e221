"""The storage floor: the rows a cycle wrote, written again by the raw driver.

After an initial cycle, the rows it left in the hub's tables (users, groups,
memberships, the links in ``sync_objects`` and the ``provisioning_log``) are copied
into empty tables of the same shape (same columns, same indexes) in the fastest way
the database offers: SQLite ``executemany`` in one transaction, PostgreSQL ``COPY``.
Only the writing is timed. That is what the database itself needs for this data;
idsync's write time ÷ this is what the rest of idsync costs on top.

Rows are streamed in batches (never the whole table in memory), so the floor can be
taken after a million-user cycle too.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

TABLES = ("users", "groups", "memberships", "sync_objects", "provisioning_log")
_BATCH = 20_000


@dataclass
class Floor:
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


def sqlite_floor(database: Path, scratch: Path) -> Floor:
    """The rows of ``database`` written into a fresh file ``scratch`` (same DDL)."""
    source = sqlite3.connect(database)
    target = sqlite3.connect(scratch, isolation_level=None)
    target.execute("PRAGMA journal_mode = WAL")
    target.execute("PRAGMA synchronous = NORMAL")
    target.execute("PRAGMA cache_size = -65536")
    floor = Floor()
    for table in TABLES:
        for (ddl,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
            "ORDER BY type = 'index'",
            (table,),
        ):
            target.execute(ddl)
    target.execute("BEGIN")
    for table in TABLES:
        columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
        insert = (
            f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
        )
        cursor = source.execute(f'SELECT {", ".join(columns)} FROM "{table}"')
        count = 0
        while batch := cursor.fetchmany(_BATCH):
            # Reading the source is not the floor's work: only the writes are timed.
            written = time.perf_counter()
            target.executemany(insert, batch)
            floor.seconds += time.perf_counter() - written
            count += len(batch)
        floor.rows[table] = count
    written = time.perf_counter()
    target.execute("COMMIT")
    floor.seconds += time.perf_counter() - written
    source.close()
    target.close()
    return floor


def postgres_floor(url: str, schema: str, scratch_dir: Path) -> Floor:
    """The rows of ``schema`` COPYed into a fresh schema of tables made ``LIKE`` them
    (columns, defaults, constraints and indexes), then dropped. Each table is first
    dumped to a file in COPY's binary format (not timed), then loaded (timed)."""
    scratch = f"idsync_floor_{uuid.uuid4().hex[:8]}"
    floor = Floor()
    dumps = {table: scratch_dir / f"{table}.copy" for table in TABLES}
    with psycopg.connect(url, autocommit=True) as conn:
        for table, path in dumps.items():
            with (
                path.open("wb") as out,
                conn.cursor().copy(f'COPY "{schema}"."{table}" TO STDOUT (FORMAT BINARY)') as copy,
            ):
                for block in copy:
                    out.write(block)
        conn.execute(f'CREATE SCHEMA "{scratch}"')
        try:
            for table in TABLES:
                conn.execute(
                    f'CREATE TABLE "{scratch}"."{table}" (LIKE "{schema}"."{table}" INCLUDING ALL)'
                )
            conn.autocommit = False
            started = time.perf_counter()
            for table, path in dumps.items():
                _load(conn, f'"{scratch}"."{table}"', path)
            conn.commit()
            floor.seconds = time.perf_counter() - started
            conn.autocommit = True
            for table in TABLES:
                count = conn.execute(f'SELECT count(*) FROM "{scratch}"."{table}"').fetchone()
                floor.rows[table] = int(count[0]) if count else 0
        finally:
            conn.autocommit = True
            conn.execute(f'DROP SCHEMA "{scratch}" CASCADE')
            for path in dumps.values():
                path.unlink(missing_ok=True)
    return floor


def _load(conn: psycopg.Connection, table: str, path: Path) -> None:
    with (
        path.open("rb") as data,
        conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        while block := data.read(1 << 20):
            copy.write(block)
