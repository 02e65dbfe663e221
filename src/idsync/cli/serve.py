"""``idsync serve``: the API (and, later, the in-process scheduler)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from idsync.cli.common import DatabaseOption, database_url, open_db
from idsync.config import Settings
from idsync.logs import configure, get_logger


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    database: DatabaseOption = None,
    workers: Annotated[int, typer.Option(help="API worker processes.")] = 1,
    public_url: Annotated[
        str | None, typer.Option(help="Base URL clients use, for meta.location (behind a proxy).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option(help="json or console.")] = "json",
    scheduler: Annotated[
        bool, typer.Option(help="Run due sync jobs in this process (the embedded default).")
    ] = True,
) -> None:
    """Serve the SCIM API at /scim/{org_id}/v2/ (applies pending migrations first)."""
    # The server's modules load here, not for every other idsync command.
    import uvicorn

    from idsync.sync.scheduler import Scheduler

    url = database_url(database)
    configure(log_level, log_format)
    db = open_db(url)  # migrate once, here, before any worker starts
    # Worker processes build their own app from the environment (one config object).
    os.environ["IDSYNC_DATABASE_URL"] = url
    os.environ["IDSYNC_LOG_LEVEL"] = log_level
    os.environ["IDSYNC_LOG_FORMAT"] = log_format
    if public_url:
        os.environ["IDSYNC_PUBLIC_URL"] = public_url
    get_logger("idsync.serve").info(
        "starting", host=host, port=port, workers=workers, database=_redacted(url)
    )
    if scheduler:
        # In the supervising process: one scheduler however many API workers there are.
        Scheduler(db, Settings.from_env()).start()
    uvicorn.run(
        "idsync.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=bool(public_url),
    )


def openapi() -> None:
    """Print the OpenAPI document of the HTTP API."""
    from idsync.api.openapi import openapi_document

    sys.stdout.write(json.dumps(openapi_document(), indent=2) + "\n")


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
