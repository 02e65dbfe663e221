"""Tracking IDs: the thread that ties what a user sees to the server's log line."""

from __future__ import annotations

import random
from contextvars import ContextVar

PREFIX = "IDS_"

# RFC 9562 §5.4: the version (4) in bits 48-51, the variant (10) in bits 64-65.
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)

current_tracking_id: ContextVar[str | None] = ContextVar("idsync_tracking_id", default=None)


def new_tracking_id() -> str:
    """A fresh ID in UUID form, e.g. ``IDS_497d70df-8811-4b6b-9b6a-ef4f438b57f6``.

    It only has to be unique, not secret: 122 random bits from the process's
    generator (seeded from os.urandom, reseeded in forked children) instead of a
    system call per request as uuid4() makes.
    """
    digits = f"{random.getrandbits(128) & _VERSION_MASK | _VERSION_4:032x}"
    # uuid.UUID(int=…, version=4) sets the same bits; building the object cost more.
    return f"{PREFIX}{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
