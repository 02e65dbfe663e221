"""Bulk writes without per-row type processing: the sync engine's hot path.

SQLAlchemy runs every parameter of every row through its type processors; for a
million membership rows that is a third of the time spent inserting them. Here a
statement is compiled once and its rows go to the driver as they are, so callers
pass only values the driver takes natively (strings, None, and datetimes made
by :func:`timestamp`).

On PostgreSQL, many rows go in by ``COPY``: an ``executemany`` runs the executor
once per row, which for a membership row costs about as much as the row's index
and foreign-key work itself. A plain ``INSERT`` becomes a ``COPY`` into its table, in
COPY's binary format where every column it fills allows (no JSON document).
One with ``ON CONFLICT`` copies into a temporary table and runs one ``INSERT …
SELECT`` from it, unless its caller expects the rows to be new: then they are
copied straight into the table in a savepoint, and only if one clashes does the
statement's ``ON CONFLICT`` decide (staging them cost a quarter of the server's
time for a first load's memberships). A few new objects (a page of groups) go in by
``INSERT … ON CONFLICT DO NOTHING RETURNING``, each that clashes left out, in one
round trip with no savepoint (:func:`insert_unless_taken`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator, TypeEngine

from idsync.store.models import MEMBERSHIPS

COPY_FROM_ROWS = 200
"""From how many rows PostgreSQL gets them by COPY (fewer: a plain executemany)."""

_UNIQUE_VIOLATION = "23505"


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


def insert_many(
    conn: Connection,
    statement: Insert,
    rows: Sequence[dict[str, Any]],
    *,
    expect_new: bool = False,
) -> int:
    """Run ``statement`` once per row (all rows have the same keys); rows changed. For
    ``expect_new`` see :func:`insert_tuples`."""
    if not rows:
        return 0
    names = list(rows[0])
    values = [tuple(row[n] for n in names) for row in rows]
    return insert_tuples(conn, statement, names, values, expect_new=expect_new)


def insert_tuples(
    conn: Connection,
    statement: Insert,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    expect_new: bool = False,
) -> int:
    """As :func:`insert_many`, each row the values of ``names`` in that order (a million
    membership rows built as tuples skip a million dictionaries). ``expect_new``: the
    rows are most likely not in the table yet (a first load's), so on PostgreSQL they
    are copied straight in, and the statement's ``ON CONFLICT`` applies only if one is."""
    if not rows:
        return 0
    sql, order = _compiled(conn, statement, tuple(names))
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        return _copy_insert(conn, statement, sql, names, rows, expect_new)
    params: Sequence[Any]
    if order is None:  # named placeholders (psycopg)
        params = [dict(zip(names, row, strict=True)) for row in rows]
    elif order == list(range(len(names))):
        params = rows
    else:  # qmark (SQLite): values in placeholder order
        params = [tuple(row[i] for i in order) for row in rows]
    result = conn.exec_driver_sql(sql, params)
    return max(result.rowcount, 0)


def insert_unless_taken(
    conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> set[Any]:
    """Insert ``rows`` (all with the same keys, each with its ``id``), skipping each one
    that would take a unique value a row of ``table`` holds; the ids of those inserted.

    PostgreSQL only, for a few rows (a page of groups): one ``INSERT … ON CONFLICT DO
    NOTHING RETURNING id`` a row, sent together in one round trip (psycopg's
    ``executemany`` runs in a pipeline), with no savepoint. A plain insert in a
    savepoint, so that a clash could be retried row by row, took three round trips,
    most of a first load's group pages' waiting for its creates.
    """
    if not rows:
        return set()
    statement = postgresql.insert(table).on_conflict_do_nothing()
    sql, _ = _compiled(conn, statement.returning(table.c.id), tuple(rows[0]))
    driver = conn.connection.driver_connection
    assert driver is not None
    inserted: set[Any] = set()
    try:
        with driver.cursor() as cursor:
            cursor.executemany(sql, rows, returning=True)
            while True:
                inserted.update(row[0] for row in cursor.fetchall())
                if not cursor.nextset():
                    break
    except conn.dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy wraps the driver's errors everywhere else (see ``_copy``).
        raise DBAPIError.instance(
            sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True
        ) from exc
    return inserted


_COMPILED: dict[Any, tuple[str, list[int] | None]] = {}
_COMPILED_MAX = 256


def _compiled(
    conn: Connection, statement: Insert, names: tuple[str, ...]
) -> tuple[str, list[int] | None]:
    """``statement``'s SQL for rows of ``names``, and for positional placeholders the
    index in ``names`` of each one's value.

    Remembered by the statement's ``CacheKey``, the key SQLAlchemy's compiled cache uses
    (a documented class, though the method that makes it, ``_generate_cache_key``, is
    underscored); a statement built anew for every batch has the same key. A
    first cycle runs thousands of these inserts; compiling each took ~0.1 ms, about 1 s
    of a 100k-user load in py-spy. Callers' statements carry no values (their rows do),
    so the SQL is the same for every statement of a key.
    """
    cache_key = statement._generate_cache_key()
    key = None if cache_key is None else (conn.dialect.name, cache_key.key, names)
    if key is not None and key in _COMPILED:
        return _COMPILED[key]
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(names))
    order = None
    if compiled.positiontup is not None:
        order = [names.index(compiled.binds[name].key) for name in compiled.positiontup]
    if key is not None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = (str(compiled), order)
    return str(compiled), order


def _copy_insert(
    conn: Connection,
    statement: Insert,
    sql: str,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    expect_new: bool,
) -> int:
    """``statement``'s rows by COPY, with the effect ``statement`` would have (its SQL,
    compiled, is ``sql``)."""
    table = statement.table
    assert isinstance(table, sa.Table)
    if " ON CONFLICT " not in sql:  # a clash fails the COPY as it fails the INSERT
        return _copy(conn, table, names, rows)
    if expect_new:
        try:
            with conn.begin_nested():
                return _copy(conn, table, names, rows)
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
            # One is there already (or the rows repeat one): ON CONFLICT decides.
    return _staged_insert(conn, statement, table, names, rows)


def _copy(
    conn: Connection,
    table: sa.Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    into: str | None = None,
) -> int:
    """``rows`` COPYed into ``table``'s columns ``names`` (or into the table ``into`` of
    the same columns); how many."""
    driver = conn.connection.driver_connection
    assert driver is not None
    columns = ", ".join(f'"{name}"' for name in names)
    types = _binary_types(table, names)
    copy_sql = f'COPY "{into or table.name}" ({columns}) FROM STDIN'
    if types is not None:
        copy_sql += " (FORMAT BINARY)"
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            if types is not None:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy wraps the driver's errors everywhere else (a NUL in a value
        # becomes the catalogue's error, not a crash; a clash an IntegrityError).
        raise DBAPIError.instance(
            copy_sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True
        ) from exc
    return len(rows)


# Subclasses first: Text is a String, BigInteger an Integer.
_BINARY_NAMES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (sa.Boolean, "bool"),
    (sa.BigInteger, "int8"),
    (sa.Integer, "int4"),
    (sa.String, "text"),
)


def _binary_types(table: sa.Table, names: Sequence[str]) -> list[str] | None:
    """The type of each column ``names`` as COPY's binary format sends it, if every one has
    such a type here (strings, integers, booleans, timestamps; not JSON documents).

    In the binary format the server takes each value as it is instead of parsing its text:
    a tenth of the server's time for a first load's memberships (measured, a million rows).
    Values are what this module's callers pass (strings, None, integers, booleans, and
    timestamps made by :func:`timestamp`, aware on PostgreSQL).
    """
    types: list[str] = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        if isinstance(column_type, sa.DateTime):
            types.append("timestamptz" if column_type.timezone else "timestamp")
            continue
        found = next((pg for kind, pg in _BINARY_NAMES if isinstance(column_type, kind)), None)
        if found is None:
            return None
        types.append(found)
    return types


def _staged_insert(
    conn: Connection,
    statement: Insert,
    table: sa.Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> int:
    """``statement``'s rows COPYed into a temporary table of just those columns, then
    inserted from it in one statement (its ON CONFLICT clause applies as it would)."""
    staging = f"idsync_in_{table.name}"
    # Private to this session, all the table's columns (calls fill different ones), no
    # constraints; its rows are deleted after each use and at commit.
    shape = sa.select(*table.c)
    select_sql = str(shape.compile(dialect=conn.dialect))
    conn.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" ON COMMIT DELETE ROWS AS '
        f"{select_sql} WITH NO DATA"
    )
    _copy(conn, table, names, rows, into=staging)
    source = sa.table(staging, *(sa.column(name) for name in names))
    insert = statement.from_select(names, sa.select(source)).compile(dialect=conn.dialect)
    # Through the driver: SQLAlchemy reports no rowcount for an INSERT … SELECT.
    inserted = conn.exec_driver_sql(str(insert), insert.params).rowcount
    conn.exec_driver_sql(f'TRUNCATE "{staging}"')
    return max(inserted, 0)


DEFER_INDEX_FROM_USERS = 1_000
"""From how many users a first load of an organisation's groups defers the index of
memberships by user (fewer: the index costs nothing worth a schema change)."""

_BY_USER = next(index for index in MEMBERSHIPS.indexes if index.name == "ix_memberships_user")


def defer_member_index(conn: Connection, users: int) -> bool:
    """Drop the index of memberships by user before a first load of ``users`` users' groups,
    if that is worth it (see :func:`restore_member_index`, which the caller must run after,
    whatever happens); whether it was dropped.

    Memberships arrive group by group, so their user ids are random: every new row lands
    at a random place in this index. On SQLite each second-long transaction of a first
    load then dirties nearly every page of it, and its commit writes them all to the WAL
    again: half of a 100,000-user load's membership time and most of a million-user
    one's. On PostgreSQL each insert into it cost about 5 µs at a million users, as much
    as the rest of the row's insert (measured: two million memberships in COPYs of a
    thousand, 22.9 s with the index and 11.9 s without, the insert check off in both).
    Building it once at the end takes about a second per million memberships.

    On PostgreSQL the drop takes the table's strongest lock until the caller's transaction
    ends: the caller commits at once, before the load (the load's own transactions must
    not hold it, or every reader of memberships would wait for them).

    Only when the whole hub holds fewer memberships than this load brings users (so the
    load outweighs the rebuild): another organisation's million memberships would
    otherwise be re-indexed, and its users' groups read without the index meanwhile.
    """
    if users < DEFER_INDEX_FROM_USERS:
        return False
    held = sa.select(MEMBERSHIPS.c.id).limit(users).subquery()
    if conn.execute(sa.select(sa.func.count()).select_from(held)).scalar_one() >= users:
        return False
    conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{_BY_USER.name}"')
    return True


def member_index_missing(conn: Connection) -> bool:
    """Whether a first load deferred the index of memberships by user and has not rebuilt
    it (it was killed, or is still running in another process)."""
    return not sa.inspect(conn).has_index(MEMBERSHIPS.name, str(_BY_USER.name))


def restore_member_index(conn: Connection) -> None:
    """Build the index :func:`defer_member_index` dropped, unless it is there. On
    PostgreSQL, writers of memberships wait for the build until the caller commits (7.3 s
    for ten million memberships, measured); readers do not. ``CONCURRENTLY`` would spare
    the writers, but it waits for every older transaction in the database, and a build it
    leaves unfinished leaves an invalid index behind."""
    _BY_USER.create(conn, checkfirst=True)
