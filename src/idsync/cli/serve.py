"""``idsync serve``: the API and the in-process scheduler."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from idsync.cli.common import (
    DatabaseOption,
    LogFormatOption,
    LogLevelOption,
    database_url,
    open_db,
)
from idsync.config import Settings
from idsync.errors.catalogue import CANNOT_LISTEN, PORT_IN_USE, IdsyncError
from idsync.errors.scrub import SCRUB
from idsync.logs import configure, get_logger, logging_config

# uvicorn's default backlog.
_BACKLOG = 2048


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    database: DatabaseOption = None,
    workers: Annotated[int, typer.Option(help="API worker processes.")] = 1,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="Base URL clients and browsers use (behind a proxy): meta.location, and the "
            "admin-consent callback at /consent/callback (default: http://HOST:PORT for the "
            "callback only)."
        ),
    ] = None,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = "json",
    scheduler: Annotated[
        bool, typer.Option(help="Run due sync jobs in this process (the embedded default).")
    ] = True,
) -> None:
    """Serve the SCIM API at /scim/{org_id}/v2/ (applies pending migrations first)."""
    # The server's modules load here, not for every other idsync command.
    import uvicorn

    from idsync.api.transport import NoDelayHttpToolsProtocol
    from idsync.manage.scheduler import Scheduler

    url = database_url(database)
    configure(log_level, log_format)
    # Listen first: a busy port fails before any migration, and once the socket is
    # ours no other program can take the port before uvicorn serves on it.
    sock = listen(host, port)
    db = open_db(url)  # migrate once, here, before any worker starts
    # Worker processes build their own app from the environment (one config object).
    os.environ["IDSYNC_DATABASE_URL"] = url
    os.environ["IDSYNC_LOG_LEVEL"] = log_level
    os.environ["IDSYNC_LOG_FORMAT"] = log_format
    if public_url:
        os.environ["IDSYNC_PUBLIC_URL"] = public_url
    # Only for the consent callback: meta.location keeps following each request's Host.
    os.environ["IDSYNC_SERVE_URL"] = f"http://{_shown(host)}:{sock.getsockname()[1]}"
    get_logger("idsync.serve").info(
        "listening",
        url=f"http://{_shown(host)}:{sock.getsockname()[1]}",
        workers=workers,
        database=_redacted(url),
    )
    if scheduler:
        # In the supervising process: one scheduler however many API workers there are.
        Scheduler(db, Settings.from_env()).start()
    uvicorn.run(
        "idsync.api.app:app_from_env",
        factory=True,
        # uvicorn serves on our socket (its --fd) and never binds the port itself.
        fd=sock.fileno(),
        workers=workers,
        # Applied again in each worker process uvicorn spawns, before it logs anything.
        log_config=logging_config(log_level, log_format),
        log_level=None,
        access_log=False,
        server_header=False,
        proxy_headers=bool(public_url),
        http=NoDelayHttpToolsProtocol,
    )


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or the catalogue's error saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may reuse a port whose old connections are in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening at once claims the port: Linux lets two SO_REUSEADDR sockets bind
        # the same address until one of them listens.
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise _listen_error(exc, host, port) from None
    sock.set_inheritable(True)  # uvicorn's worker processes serve on it
    return sock


def _listen_error(exc: OSError, host: str, port: int) -> IdsyncError:
    if exc.errno == errno.EADDRINUSE:
        return IdsyncError(PORT_IN_USE, host=host, port=port, free_port=_free_port(host, port))
    other_host = (
        "Use --host with an address of this machine: 127.0.0.1 (this machine only) or "
        "0.0.0.0 (every interface)."
    )
    if isinstance(exc, socket.gaierror):
        return IdsyncError(
            CANNOT_LISTEN, host=host, port=port, reason="the host name is unknown", hint=other_host
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        reason = "the address is not one of this machine's"
        return IdsyncError(CANNOT_LISTEN, host=host, port=port, reason=reason, hint=other_host)
    if exc.errno == errno.EACCES:
        return IdsyncError(
            CANNOT_LISTEN,
            host=host,
            port=port,
            reason="permission denied",
            hint="Ports below 1024 need privileges: use --port 1024 or above (e.g. --port "
            "8080), behind a reverse proxy on port 443.",
        )
    reason = (exc.strerror or str(exc)).lower()
    return IdsyncError(
        CANNOT_LISTEN, host=host, port=port, reason=reason, hint="Check --host and --port."
    )


def _free_port(host: str, busy: int) -> int:
    """A port near the busy one that is free now (the advice is meant to work)."""
    for candidate in range(busy + 1, min(busy + 100, 65536)):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return 8080 if busy != 8080 else 8081


def openapi() -> None:
    """Print the OpenAPI document of the HTTP API."""
    from idsync.api.openapi import openapi_document

    sys.stdout.write(json.dumps(openapi_document(), indent=2) + "\n")


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _redacted(url: str) -> str:
    return SCRUB(make_url(url).render_as_string(hide_password=False))
