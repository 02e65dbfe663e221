"""What every command shares: the --database option, output, and error reporting."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from idsync.config import DEFAULT_DATABASE_URL
from idsync.errors.catalogue import IdsyncError
from idsync.manage.database import Database, open_current
from idsync.scim.values import format_datetime

console = Console()
errors = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Database URL (sqlite:///file.db or postgresql://…). "
        "Default: $IDSYNC_DATABASE_URL, else sqlite:///idsync.db here.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
# The long-running commands (serve, worker) log at info; the flag beats the variable.
LogLevelOption = Annotated[
    Literal["debug", "info", "warning", "error"],
    typer.Option(envvar="IDSYNC_LOG_LEVEL", help="Lowest level logged."),
]
LogFormatOption = Annotated[
    Literal["json", "console"],
    typer.Option(
        envvar="IDSYNC_LOG_FORMAT",
        help="json: one JSON object per line on stderr; console: for humans.",
    ),
]


def database_url(option: str | None) -> str:
    return option or os.environ.get("IDSYNC_DATABASE_URL") or DEFAULT_DATABASE_URL


def open_db(option: str | None) -> Database:
    """Open the database, bringing its schema up to date first."""
    return open_current(database_url(option))


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), ensure_ascii=False) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    view = Table(title=title, title_justify="left")
    for column in columns:
        view.add_column(column)
    for row in rows:
        view.add_row(*("" if v is None else str(plain(v)) for v in row))
    console.print(view)


def fail(error: IdsyncError) -> None:
    """One clear line, with the code, then a non-zero exit: never a traceback."""
    errors.print(
        f"[bold red]error[/] {error.error.code}: {error.detail}", highlight=False, soft_wrap=True
    )
    raise SystemExit(1)
