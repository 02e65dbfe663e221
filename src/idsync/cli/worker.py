"""``idsync worker``: run sync cycles as tasks of the distributed task engine (procrastinate)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from idsync.cli.common import DatabaseOption, LogFormatOption, LogLevelOption, open_db
from idsync.config import Settings
from idsync.errors.catalogue import WORKER_NEEDS_POSTGRES, IdsyncError
from idsync.logs import configure


def worker(
    concurrency: Annotated[
        int, typer.Option(help="Cycles this process runs at once (one thread each).")
    ] = 2,
    poll_seconds: Annotated[
        int, typer.Option(help="How often due jobs are queued (cluster-wide), 1-59 seconds.")
    ] = 5,
    heartbeat_seconds: Annotated[
        float,
        typer.Option(
            help="Worker heartbeat; a worker silent for three of them is dead and its cycle "
            "resumes on another."
        ),
    ] = 10.0,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The address `idsync serve` is reached at (as its --public-url): consent "
            "links in the findings and alerts this worker makes come back there "
            "(default: IDSYNC_PUBLIC_URL)."
        ),
    ] = None,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = "json",
    database: DatabaseOption = None,
) -> None:
    """Run due sync cycles, with any number of workers and API processes on one PostgreSQL.

    Stop it with SIGTERM or Ctrl-C: running cycles stop at their next checkpoint and
    another worker resumes them.
    """
    from idsync.manage.worker import serve_worker

    configure(log_level, log_format)
    db = open_db(database)
    if db.is_sqlite:
        raise IdsyncError(WORKER_NEEDS_POSTGRES, dialect="SQLite")
    if not 1 <= poll_seconds <= 59:
        raise typer.BadParameter("between 1 and 59", param_hint="--poll-seconds")
    asyncio.run(
        serve_worker(
            db,
            Settings.from_env(public_url=public_url),
            concurrency=concurrency,
            poll_seconds=poll_seconds,
            heartbeat_seconds=heartbeat_seconds,
        )
    )
