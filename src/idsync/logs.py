"""Structured logging: one JSON object per line, every request line carrying its tracking ID."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog


def configure(level: str = "info", fmt: str = "json") -> None:
    """Configure structlog and the standard library logging once per process."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    json_lines = fmt == "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=orjson.dumps)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=(
            structlog.BytesLoggerFactory(file=sys.stderr.buffer)
            if json_lines
            else structlog.WriteLoggerFactory(file=sys.stderr)
        ),
        cache_logger_on_first_use=True,
    )
    # force: a second configure (the CLI's default, then ``serve``'s flags) must take effect.
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s", force=True)


def get_logger(name: str) -> Any:
    """A logger configured lazily: modules create theirs at import time, before any
    entry point has chosen the level and format."""
    return structlog.get_logger(name)
