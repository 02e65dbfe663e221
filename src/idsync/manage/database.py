"""The database as the faces open it: up to date before anything reads it."""

from __future__ import annotations

from idsync.store.database import Database as Database
from idsync.store.database import open_database
from idsync.store.migrate import current_revision, head_revision, upgrade


def open_current(url: str) -> Database:
    """Open the database, bringing its schema up to date first."""
    db = open_database(url)
    upgrade(db)
    return db


def upgrade_schema(url: str) -> str | None:
    """Apply pending migrations; the revision the database is at after."""
    db = open_database(url)
    upgrade(db)
    return current_revision(db)


def schema_status(url: str) -> tuple[str | None, str | None]:
    """(the database's revision, None when empty; the latest revision)."""
    return current_revision(open_database(url)), head_revision()
