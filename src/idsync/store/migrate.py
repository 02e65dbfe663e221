"""Schema migrations: ``upgrade`` brings any database to the current schema.

Every idsync command checks the schema before it opens the database. Alembic is imported
only when the database is behind: its import is about a third of a command's start-up,
and an up-to-date database is recognised by :data:`HEAD` with one query.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Connection, text

from idsync.logs import get_logger
from idsync.store.database import Database

if TYPE_CHECKING:
    from alembic.config import Config

log = get_logger("idsync.store.migrate")

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0016"
"""The newest revision in ``migrations/versions`` (tests/store/test_migrations.py checks
it against alembic's own reading): raise it with each new migration."""
# Any constant works; it only has to be the same in every idsync process.
_PG_MIGRATION_LOCK = 0x1D5_9C


def _config(conn: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str | None:
    """The newest revision, as alembic reads the migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    """The revision alembic recorded (its ``alembic_version`` table); None: no schema yet."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(db: Database) -> None:
    """Apply pending migrations. Safe to call from many processes at once."""
    if current_revision(db) == HEAD:
        return
    from alembic import command

    head = head_revision()
    with db.connect() as conn:
        if db.dialect == "postgresql":
            # Several API processes may start together; one migrates, the others wait.
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        try:
            # Read again under the lock: another process may have migrated meanwhile.
            before = _revision(conn)
            command.upgrade(_config(conn), "head")
            conn.commit()
            if before != head:  # alembic stays quiet (idsync.logs): one line in our format
                log.info("database schema upgraded", from_revision=before, to_revision=head)
        finally:
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
