"""Tracking IDs: the thread that ties what a user sees to the server's log line."""

from __future__ import annotations

import random
import uuid
from contextvars import ContextVar

PREFIX = "IDS_"

current_tracking_id: ContextVar[str | None] = ContextVar("idsync_tracking_id", default=None)


def new_tracking_id() -> str:
    """A fresh ID in UUID form, e.g. ``IDS_497d70df-8811-4b6b-9b6a-ef4f438b57f6``.

    It only has to be unique, not secret: 122 random bits from the process's
    generator (seeded from os.urandom, reseeded in forked children) instead of a
    system call per request as uuid4() makes.
    """
    return f"{PREFIX}{uuid.UUID(int=random.getrandbits(128), version=4)}"
