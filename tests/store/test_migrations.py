"""The migrations build exactly the schema the models describe, on both databases, but
for the one difference migration 0012 makes on PostgreSQL: memberships' keys checked by
triggers, not by foreign keys."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from idsync.store.database import Database
from idsync.store.migrate import HEAD, _config, current_revision, head_revision, upgrade
from idsync.store.models import METADATA
from tests.conftest import PrivateDatabase

# On PostgreSQL, triggers check the memberships' keys once per statement (migration 0012).
_CHECKED_BY_TRIGGERS = {("memberships", "groups"), ("memberships", "users")}


def _checked_by_triggers(difference: Any) -> bool:
    if not isinstance(difference, tuple) or difference[0] != "add_fk":
        return False
    key = difference[1]
    return (key.table.name, key.referred_table.name) in _CHECKED_BY_TRIGGERS


def test_migrated_schema_matches_the_models(database: Database) -> None:
    upgrade(database)
    assert current_revision(database) == head_revision()
    with database.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), METADATA)
        triggers = (
            set()
            if database.is_sqlite
            else set(
                conn.exec_driver_sql(
                    "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE c.relnamespace = current_schema()::regnamespace "
                    "AND NOT t.tgisinternal"
                ).scalars()
            )
        )
    if database.is_sqlite:
        assert differences == []
        return
    keys = [d for d in differences if _checked_by_triggers(d)]
    assert [d for d in differences if d not in keys] == []
    assert len(keys) == 3  # group, user and nested group: no foreign key, a trigger
    assert triggers == {
        "idsync_memberships_parents_exist",
        "idsync_membership_moved",
        "idsync_groups_deleted",
        "idsync_users_deleted",
        "idsync_group_id_changed",
        "idsync_user_id_changed",
    }


def test_postgresql_columns_have_the_models_collations(
    postgres_database: PrivateDatabase,
) -> None:
    """Alembic's comparison above does not look at collations: ids compare bytewise
    (``COLLATE "C"``, migration 0015), other text by the database's default."""
    dialect = postgres_database.db.engine.dialect
    with postgres_database.db.engine.connect() as conn:
        found = {
            (table, column)
            for table, column in conn.exec_driver_sql(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND collation_name = 'C'"
            )
        }
    expected = {
        (table.name, column.name)
        for table in METADATA.tables.values()
        for column in table.columns
        if getattr(column.type.dialect_impl(dialect), "collation", None) == "C"
    }
    assert found == expected
    assert len(expected) == 50  # every id column


def test_the_head_every_command_checks_is_alembics() -> None:
    assert head_revision() == HEAD


def test_upgrade_is_idempotent(database: Database) -> None:
    upgrade(database)
    upgrade(database)
    assert current_revision(database) == head_revision()


def _function_sources(db: Database, name: str) -> list[str]:
    """The source of each PostgreSQL function of this name in the database's schema."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT prosrc FROM pg_proc WHERE proname = %(name)s "
            "AND pronamespace = current_schema()::regnamespace",
            {"name": name},
        )
        return [str(source) for (source,) in rows]


def _downgrade(db: Database, revision: str) -> None:
    with db.engine.connect() as conn:
        command.downgrade(_config(conn), revision)
        conn.commit()


def test_downgrade_then_upgrade(tmp_path: object) -> None:
    from pathlib import Path

    db = Database(f"sqlite:///{Path(str(tmp_path)) / 'roundtrip.db'}")
    upgrade(db)
    _downgrade(db, "base")
    assert current_revision(db) is None
    upgrade(db)
    assert current_revision(db) == head_revision()


def test_postgresql_downgrades_to_row_locked_checks_and_back(
    postgres_database: PrivateDatabase,
) -> None:
    """Migration 0014 replaces 0012's trigger functions; its downgrade puts them back."""
    db = postgres_database.db

    def lock_key_functions() -> int:
        return len(_function_sources(db, "idsync_membership_lock_key"))

    assert lock_key_functions() == 1
    _downgrade(db, "0013")
    assert current_revision(db) == "0013"
    assert lock_key_functions() == 0
    upgrade(db)
    assert current_revision(db) == HEAD
    assert lock_key_functions() == 1


def test_postgresql_downgrades_the_one_pass_check_and_back(
    postgres_database: PrivateDatabase,
) -> None:
    """Migration 0016 rewrites the check of new memberships; its downgrade puts 0014's back."""
    db = postgres_database.db

    def check_source() -> str:
        (source,) = _function_sources(db, "idsync_memberships_parents_exist")
        return source

    one_pass = "NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = a.user_id)"
    assert one_pass in check_source()
    _downgrade(db, "0015")
    assert one_pass not in check_source()
    assert "count(DISTINCT user_id)" in check_source()
    upgrade(db)
    assert one_pass in check_source()
