"""``idsync db``: the database schema."""

from __future__ import annotations

import typer

from idsync.cli.common import DatabaseOption, console, database_url
from idsync.store.database import open_database
from idsync.store.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_(database: DatabaseOption = None) -> None:
    """Apply pending migrations (idsync serve does this on start)."""
    db = open_database(database_url(database))
    upgrade(db)
    console.print(f"Database at revision {current_revision(db)}")


@app.command("status")
def status(database: DatabaseOption = None) -> None:
    """Show the database's schema revision and the latest one."""
    db = open_database(database_url(database))
    console.print(f"current: {current_revision(db) or 'empty'}, latest: {head_revision()}")
