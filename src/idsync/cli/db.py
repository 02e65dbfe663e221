"""``idsync db``: the database schema."""

from __future__ import annotations

import typer

from idsync.cli.common import DatabaseOption, console, database_url
from idsync.manage.database import schema_status, upgrade_schema

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_(database: DatabaseOption = None) -> None:
    """Apply pending migrations (idsync serve does this on start)."""
    console.print(f"Database at revision {upgrade_schema(database_url(database))}")


@app.command("status")
def status(database: DatabaseOption = None) -> None:
    """Show the database's schema revision and the latest one."""
    current, latest = schema_status(database_url(database))
    console.print(f"current: {current or 'empty'}, latest: {latest}")
