"""Structured logging: one line per event on stderr, in one format, whoever logs it.

idsync's own events (structlog) and the standard library's records (uvicorn,
alembic, httpx, msal, ldap3, procrastinate, ``warnings``) go through the same
processors and the same renderer: with the ``json`` format every line is one
JSON object with ``timestamp``, ``level``, ``logger`` and ``event`` (plus the
event's own fields); request lines carry their tracking ID. idsync's events are
rendered by structlog straight onto stderr (one per API request: the fast path);
the standard library's records by structlog's ``ProcessorFormatter`` on the
root handler. Every line passes :mod:`idsync.errors.scrub` last, so a secret field,
a URL's password or a paging cursor never reaches it. See docs/architecture.md, "Logs".
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import threading
from types import TracebackType
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from idsync.errors.scrub import SCRUB

# Libraries whose records are held at WARNING whatever the configured level.
QUIET_LOGGERS: dict[str, str] = {
    # One INFO line per request with its whole URL: Graph's $skiptoken/$deltatoken
    # cursors read the directory like a bearer token, and SCIM filters carry names.
    "httpx": "WARNING",
    "httpcore": "WARNING",
    # Token-acquisition chatter; nothing an administrator acts on.
    "msal": "WARNING",
    # Protocol dumps (ldap3 logs only when its detail level is raised).
    "ldap3": "WARNING",
    # "Context impl SQLiteImpl." on every revision check; store/migrate.py logs
    # each migration it applies instead.
    "alembic": "WARNING",
    # Start/stop chatter (idsync.serve logs where it listens); errors still pass.
    "uvicorn.error": "WARNING",
    # idsync.http logs every request once, with its tracking ID.
    "uvicorn.access": "WARNING",
    "asyncio": "WARNING",
}


def configure(level: str = "info", fmt: str = "json") -> None:
    """Configure structlog and the standard library's logging, once per process
    (again with other values: the CLI's defaults, then ``serve``'s flags)."""
    structlog.configure(
        processors=[*_shared_processors(), *_final_processors(fmt)],
        wrapper_class=structlog.make_filtering_bound_logger(_numeric(level)),
        logger_factory=_JsonStderr if fmt == "json" else _TextStderr,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(logging_config(level, fmt))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """The standard library's configuration (``logging.config.dictConfig``).

    ``idsync serve`` also hands it to uvicorn, which applies it in each worker
    process it spawns, before that process logs anything.
    """
    numeric = _numeric(level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"idsync": {"()": "idsync.logs.formatter", "fmt": fmt}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "idsync",
            }
        },
        "root": {"level": logging.getLevelName(numeric), "handlers": ["stderr"]},
        "loggers": {
            name: {"level": logging.getLevelName(max(numeric, logging.getLevelName(floor)))}
            for name, floor in QUIET_LOGGERS.items()
        },
    }


def formatter(fmt: str = "json") -> logging.Formatter:
    """The standard library's records, through idsync's processors and renderer."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.ExtraAdder(),
            _drop_uvicorn_colours,
            *_shared_processors(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_final_processors(fmt, text=True),
        ],
    )


def get_logger(name: str) -> Any:
    """A logger configured lazily: modules create theirs at import time, before any
    entry point has chosen the level and format."""
    return structlog.get_logger(name)


class _JsonStderr(structlog.BytesLogger):
    """Lines straight onto stderr's bytes, under a name (``add_logger_name`` reads it)."""

    def __init__(self, name: str = "idsync") -> None:
        super().__init__(sys.stderr.buffer)
        self.name = name


class _TextStderr(structlog.WriteLogger):
    def __init__(self, name: str = "idsync") -> None:
        super().__init__(sys.stderr)
        self.name = name


def _shared_processors() -> list[Processor]:
    """What every line gets, whether structlog or the standard library made it."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _final_processors(fmt: str, *, text: bool = False) -> list[Processor]:
    """Exceptions as text, secrets scrubbed, then the line (``text``: a str for logging)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps_text if text else _dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    return [structlog.processors.format_exc_info, _scrub, renderer]


def _numeric(level: str) -> int:
    numeric = logging.getLevelName(level.upper())
    return numeric if isinstance(numeric, int) else logging.INFO


def _dumps(value: Any, **options: Any) -> bytes:
    try:
        return orjson.dumps(value, default=options.get("default"), option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits: still one JSON line
        return json.dumps(value, default=repr).encode()


def _dumps_text(value: Any, **options: Any) -> str:
    return _dumps(value, **options).decode()


def _drop_uvicorn_colours(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's ANSI copy of the message
    return event


def _scrub(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    # A last guard for text this process does not control (an exception's message, a
    # library's line): the connectors scrub what they know before it gets here.
    return SCRUB.fields(event)


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    get_logger("idsync").critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    get_logger("idsync").critical(
        "uncaught exception",
        thread=args.thread.name if args.thread else None,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
