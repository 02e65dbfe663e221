"""Tracking IDs: the thread that ties what a user sees to the server's log line."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

PREFIX = "IDS_"

current_tracking_id: ContextVar[str | None] = ContextVar("idsync_tracking_id", default=None)


def new_tracking_id() -> str:
    """A fresh ID, e.g. ``IDS_497d70df-8811-4b6b-9b6a-ef4f438b57f6``."""
    return f"{PREFIX}{uuid.uuid4()}"
