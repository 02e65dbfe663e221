"""Bulk writes without per-row type processing: the sync engine's hot path.

SQLAlchemy runs every parameter of every row through its type processors; for a
million membership rows that is a third of the time spent inserting them. Here a
statement is compiled once and its rows go to the driver as they are, so callers
pass only values the driver takes natively (strings, None, and datetimes made
by :func:`timestamp`).

On PostgreSQL, many rows go in by ``COPY`` into a temporary table and one
``INSERT … SELECT`` from it (with the statement's ``ON CONFLICT``): an
``executemany`` runs the executor once per row, which for a membership row
costs about as much as the row's index and foreign-key work itself.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import Insert

COPY_FROM_ROWS = 200
"""From how many rows PostgreSQL gets them by COPY (fewer: a plain executemany)."""


def timestamp(dialect: str, value: datetime) -> Any:
    """A UTC datetime as the column type stores it (``UTCDateTime``) in the ``dialect``'s
    database: SQLite keeps naive UTC text in SQLAlchemy's format, PostgreSQL takes the
    aware value."""
    if dialect == "sqlite":
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def document(value: Any) -> str | None:
    """A JSON column's value as the driver takes it: text (PostgreSQL casts it to JSONB)."""
    return None if value is None else orjson.dumps(value).decode()


def insert_many(conn: Connection, statement: Insert, rows: Sequence[dict[str, Any]]) -> int:
    """Run ``statement`` once per row (all rows have the same keys); rows changed."""
    if not rows:
        return 0
    names = list(rows[0])
    return insert_tuples(conn, statement, names, [tuple(row[n] for n in names) for row in rows])


def insert_tuples(
    conn: Connection, statement: Insert, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """As :func:`insert_many`, each row the values of ``names`` in that order (a million
    membership rows built as tuples skip a million dictionaries)."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        return _copy_insert(conn, statement, names, rows)
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(names))
    params: Sequence[Any]
    if compiled.positiontup is not None:  # qmark (SQLite): values in placeholder order
        order = [names.index(compiled.binds[name].key) for name in compiled.positiontup]
        in_order = order == list(range(len(names)))
        params = rows if in_order else [tuple(row[i] for i in order) for row in rows]
    else:
        params = [dict(zip(names, row, strict=True)) for row in rows]
    result = conn.exec_driver_sql(str(compiled), params)
    return max(result.rowcount, 0)


def _copy_insert(
    conn: Connection, statement: Insert, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """``statement``'s rows COPYed into a temporary table of just those columns, then
    inserted from it in one statement (its ON CONFLICT clause applies as it would)."""
    table = statement.table
    assert isinstance(table, sa.Table)
    staging = f"idsync_in_{table.name}"
    columns = ", ".join(f'"{name}"' for name in names)
    known = _staging_tables(conn)
    if staging not in known.committed and staging not in known.pending:
        # Private to this session, all the table's columns (calls fill different ones),
        # no constraints; its rows are deleted after each use and at commit.
        shape = sa.select(*table.c)
        select_sql = str(shape.compile(dialect=conn.dialect))
        conn.exec_driver_sql(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" ON COMMIT DELETE ROWS AS '
            f"{select_sql} WITH NO DATA"
        )
        known.pending.add(staging)
    driver = conn.connection.driver_connection
    assert driver is not None
    copy_sql = f'COPY "{staging}" ({columns}) FROM STDIN'
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy wraps the driver's errors everywhere else (a NUL in a value
        # becomes the catalogue's error, not a crash).
        raise DBAPIError.instance(
            copy_sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True
        ) from exc
    source = sa.table(staging, *(sa.column(name) for name in names))
    insert = statement.from_select(names, sa.select(source)).compile(dialect=conn.dialect)
    # Through the driver: SQLAlchemy reports no rowcount for an INSERT … SELECT.
    inserted = conn.exec_driver_sql(str(insert), insert.params).rowcount
    conn.exec_driver_sql(f'TRUNCATE "{staging}"')
    return max(inserted, 0)


# --- which staging tables a session has ------------------------------------------------
#
# A temporary table lives as long as its session, the DBAPI connection: so what
# _copy_insert created is remembered in that connection's ``info`` (the pool entry's,
# which ``Connection.info`` also returns). SQLAlchemy empties it when it replaces the
# DBAPI connection (invalidated, recycled, failed pre-ping), so a new session never
# inherits the names. But CREATE TABLE is transactional in PostgreSQL: created in a
# transaction or savepoint that rolls back, the table is gone again while the session
# goes on. So a name is only "pending" until its transaction commits, and pending
# names are forgotten at any rollback (a savepoint's too: which names it created is not
# worth tracking, the next COPY creates the table again IF NOT EXISTS) and when the
# connection goes back to the pool without SQLAlchemy's commit or rollback (the pool's
# reset rolled back). SQLAlchemy's commit event comes before the COMMIT itself, so any
# database error the connection reports forgets every name: a COMMIT that failed
# committed nothing. Forgetting too much costs one CREATE … IF NOT EXISTS; remembering
# too much would fail the next COPY and its whole transaction.


@dataclass
class _Staging:
    committed: set[str] = field(default_factory=set)
    """Created by a transaction that committed: there until the session ends."""
    pending: set[str] = field(default_factory=set)
    """Created in the open transaction: gone if it (or the savepoint) rolls back."""


_INFO_KEY = "idsync_staging_tables"
_watched: weakref.WeakSet[Engine] = weakref.WeakSet()
_watching = threading.Lock()


def _staging_tables(conn: Connection) -> _Staging:
    _watch(conn.engine)
    info = conn.connection.info  # the DBAPI connection's, as Connection.info
    known: _Staging = info.setdefault(_INFO_KEY, _Staging())
    return known


def _known(conn: Connection) -> _Staging | None:
    """The names remembered for ``conn``'s session, without reconnecting an invalidated
    connection (whose session, and names, are gone anyway)."""
    if conn.closed or conn.invalidated:
        return None
    known: _Staging | None = conn.connection.info.get(_INFO_KEY)
    return known


def _watch(engine: Engine) -> None:
    # An engine made by execution_options() shares its parent's pool, so its DBAPI
    # connections, and reports to its parent's listeners, not the other way round:
    # listen on the parent, which every connection of either reports to.
    engine = getattr(engine, "_proxied", engine)
    if engine in _watched:
        return
    with _watching:
        if engine in _watched:
            return
        event.listen(engine, "commit", _committed)
        event.listen(engine, "rollback", _rolled_back)
        event.listen(engine, "rollback_savepoint", _rolled_back_to_savepoint)
        event.listen(engine, "handle_error", _failed)
        event.listen(engine, "checkin", _checked_in)
        _watched.add(engine)


def _committed(conn: Connection) -> None:
    known = _known(conn)
    if known is not None:
        known.committed |= known.pending
        known.pending.clear()


def _rolled_back(conn: Connection) -> None:
    known = _known(conn)
    if known is not None:
        known.pending.clear()


def _rolled_back_to_savepoint(conn: Connection, name: str, context: None) -> None:
    _rolled_back(conn)


def _failed(context: ExceptionContext) -> None:
    known = _known(context.connection) if context.connection is not None else None
    if known is not None:
        known.committed.clear()
        known.pending.clear()


def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    known: _Staging | None = record.info.get(_INFO_KEY)
    if known is not None:
        known.pending.clear()
