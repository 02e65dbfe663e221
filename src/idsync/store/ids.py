"""Ids of the resources the hub stores: time-ordered UUIDs (RFC 9562 §5.7, version 7).

RFC 7643 §3.1 asks only that an id be unique, issued by the service provider and never
reassigned. Ordered by creation, a new row's id lands at the end of every index keyed by
it (the primary keys, ``(org_id, id)``, a group's memberships, the links to it) instead
of at a random place: a first sync of 100,000 users then writes each index page once,
not once per row. The standard library has ``uuid7`` from Python 3.14; until then, these
few lines.
"""

from __future__ import annotations

import random
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0x2 << 62
_RANDOM_A = ((1 << 12) - 1) << 64  # rand_a: 12 bits after the version
_RANDOM_B = (1 << 62) - 1  # rand_b: 62 bits after the variant


def new_id() -> str:
    """A new id, e.g. ``019ae9b1-0c3e-7d5a-9f1e-6b0c2d4e8a17``.

    It only has to be unique, not secret (tokens guard every resource): 74 random bits
    per millisecond from the process's generator, which Python reseeds in a forked
    child, as tracking IDs use (no system call per id).
    """
    millis = time.time_ns() // 1_000_000
    bits = random.getrandbits(128)
    value = (millis << 80) | _VERSION | (bits & _RANDOM_A) | _VARIANT | (bits & _RANDOM_B)
    return str(uuid.UUID(int=value))
