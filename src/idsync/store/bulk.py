"""Bulk writes without per-row type processing: the sync engine's hot path.

SQLAlchemy runs every parameter of every row through its type processors; for a
million membership rows that is a third of the time spent inserting them. Here a
statement is compiled once and its rows go to the driver as they are, so callers
pass only values the driver takes natively (strings, None, and datetimes made
by :func:`timestamp`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.dml import Insert


def timestamp(conn: Connection, value: datetime) -> Any:
    """A UTC datetime as the column type stores it (``UTCDateTime``): SQLite keeps
    naive UTC text in SQLAlchemy's format, PostgreSQL takes the aware value."""
    if conn.dialect.name == "sqlite":
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def insert_many(conn: Connection, statement: Insert, rows: Sequence[dict[str, Any]]) -> int:
    """Run ``statement`` once per row (all rows have the same keys); rows changed."""
    if not rows:
        return 0
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    params: Sequence[Any] = rows
    if compiled.positiontup is not None:  # qmark (SQLite): values in placeholder order
        names = [compiled.binds[name].key for name in compiled.positiontup]
        params = [tuple(row[name] for name in names) for row in rows]
    result = conn.exec_driver_sql(str(compiled), params)
    return max(result.rowcount, 0)
