"""Schema migrations: ``upgrade`` brings any database to the current schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from idsync.logs import get_logger
from idsync.store.database import Database

log = get_logger("idsync.store.migrate")

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every idsync process.
_PG_MIGRATION_LOCK = 0x1D5_9C


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database) -> None:
    """Apply pending migrations. Safe to call from many processes at once."""
    head = head_revision()
    if current_revision(db) == head:
        return
    with db.connect() as conn:
        if db.dialect == "postgresql":
            # Several API processes may start together; one migrates, the others wait.
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        try:
            # Read again under the lock: another process may have migrated meanwhile.
            before = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(_config(conn), "head")
            conn.commit()
            if before != head:  # alembic stays quiet (idsync.logs): one line in our format
                log.info("database schema upgraded", from_revision=before, to_revision=head)
        finally:
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
