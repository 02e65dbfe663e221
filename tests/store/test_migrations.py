"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from idsync.store.database import Database
from idsync.store.migrate import HEAD, _config, current_revision, head_revision, upgrade
from idsync.store.models import METADATA


def test_migrated_schema_matches_the_models(database: Database) -> None:
    upgrade(database)
    assert current_revision(database) == head_revision()
    with database.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), METADATA)
    assert differences == []


def test_the_head_every_command_checks_is_alembics() -> None:
    assert head_revision() == HEAD


def test_upgrade_is_idempotent(database: Database) -> None:
    upgrade(database)
    upgrade(database)
    assert current_revision(database) == head_revision()


def test_downgrade_then_upgrade(tmp_path: object) -> None:
    from pathlib import Path

    db = Database(f"sqlite:///{Path(str(tmp_path)) / 'roundtrip.db'}")
    upgrade(db)
    with db.engine.connect() as conn:
        command.downgrade(_config(conn), "base")
        conn.commit()
    assert current_revision(db) is None
    upgrade(db)
    assert current_revision(db) == head_revision()
