"""A SELECT compiled once and run on the driver's own cursor: the API's lookups.

SQLAlchemy's execution path (execution context, result metadata, ``Row`` objects)
costs about 60 µs a statement; the index probe behind a ``userName eq`` lookup costs
SQLite about 12 µs. For the few statements the SCIM API runs on every request, this
module compiles the statement once per dialect and runs it on the DBAPI cursor of the
same SQLAlchemy connection (so in the same transaction), converting each column with
SQLAlchemy's own result processors: callers get the same values, with the same
attribute names, as ``Connection.execute`` would give them, and the engine's
``before_cursor_execute`` and ``after_cursor_execute`` listeners still see the
statement (without an execution context, and unable to rewrite it).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError


class Prepared:
    """``statement`` compiled for ``dialect``; its binds must need no conversion (text)."""

    def __init__(self, statement: sa.Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        binds = compiled.binds.values()
        if any(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds):
            raise ValueError("a prepared statement's parameters must need no conversion")
        self.sql = compiled.string
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )
        columns = list(statement.selected_columns)
        self.fields: tuple[str, ...] = tuple(str(column.key) for column in columns)
        self._row: Any = namedtuple("_PreparedRow", self.fields)  # type: ignore[misc]
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self._processors: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor
        ]

    def parameters(self, params: Mapping[str, Any]) -> Any:
        """``params`` as the driver takes them with ``sql``: the mapping itself for named
        placeholders (psycopg), the values in placeholder order for positional ones."""
        return params if self._order is None else tuple(params[n] for n in self._order)

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row, as named tuples holding what SQLAlchemy would have returned."""
        bound = self.parameters(params)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        # Listeners (tests counting statements, tracing) still see each statement.
        events = conn.dispatch
        if events.before_cursor_execute:
            events.before_cursor_execute(conn, cursor, self.sql, bound, None, False)
        try:
            cursor.execute(self.sql, bound)
            raw = cursor.fetchall()
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy_error(conn, cursor, self.sql, bound, exc) from exc
        finally:
            with suppress(conn.dialect.loaded_dbapi.Error):  # a dropped connection's cursor
                cursor.close()
        if events.after_cursor_execute:
            events.after_cursor_execute(conn, cursor, self.sql, bound, None, False)
        return [self._convert(row) for row in raw]

    def _convert(self, row: Any) -> Any:
        values = list(row)
        for index, processor in self._processors:
            values[index] = processor(values[index])
        return self._row._make(values)


def _as_sqlalchemy_error(
    conn: Connection, cursor: Any, sql: str, bound: Any, exc: Any
) -> StatementError:
    """The error as Connection.execute raises it, so callers' handling still applies. A
    connection the server dropped is invalidated, and with it every connection the pool
    held then (a server that dropped one dropped them all: a restart, a failover), as
    Connection.execute does; otherwise each would fail one more request."""
    dialect = conn.dialect
    dropped = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if dropped:
        # SQLAlchemy's own execution path calls this too; it has no public equivalent.
        conn.engine.pool._invalidate(conn.connection, exc)
        conn.invalidate(exc)
    error: StatementError = DBAPIError.instance(
        sql, bound, exc, dialect.loaded_dbapi.Error, connection_invalidated=dropped
    )
    return error
