"""The SQL statements a block of test code runs, as the driver receives them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from idsync.store.database import Database


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """Every statement ``database`` runs inside the block, in order."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
