"""When a cycle must not remove what the source no longer shows: the removal safety rules.

A source that suddenly returns far less than before (an expired permission, a base DN
renamed, a file cut short) looks exactly like a mass deletion. Entra stops at its
accidental-deletions threshold; idsync also refuses a read that shrank by more than
half, and a cycle in which too many objects failed. A refusal stages the removals for
an administrator's approval and puts the job in Quarantine; nothing is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idsync.errors.catalogue import DELETION_THRESHOLD, FAILURE_RATE, SOURCE_SHRANK, IdsyncError

SHRINK_RATIO = 0.5
"""A full read missing more than this share of the objects the hub holds is not believed."""
SHRINK_MINIMUM = 20
"""Below this many objects, a shrink is not judged (a small directory may halve)."""
FAILURE_RATE_LIMIT = 0.40
"""Quarantine when more than this share of a cycle's objects failed (Entra: 40%)."""
FAILURE_RATE_MINIMUM = 10
"""Below this many attempted objects, the failure rate is not judged."""


def looks_shrunk(known: int, missing: int) -> bool:
    """Whether a full read that no longer returns ``missing`` of ``known`` objects is
    more likely a broken read than real deletions."""
    return known >= SHRINK_MINIMUM and missing > known * SHRINK_RATIO


def shrink_refusal(
    found: Mapping[str, Any] | None, system: str, integration: str
) -> IdsyncError | None:
    """The refusal for a shrink recorded in the checkpoint (``seen``, ``object_type``, ``known``)."""
    if not found:
        return None
    return IdsyncError(SOURCE_SHRANK, system=system, integration=integration, **found)


def deletion_refusal(count: int, threshold: int, integration: str) -> IdsyncError | None:
    """Entra's accidental-deletions threshold: more removals than this wait for approval."""
    if threshold > 0 and count > threshold:
        return IdsyncError(
            DELETION_THRESHOLD, count=count, threshold=threshold, integration=integration
        )
    return None


def failure_rate_refusal(failed: int, attempted: int, integration: str) -> IdsyncError | None:
    if attempted >= FAILURE_RATE_MINIMUM and failed > attempted * FAILURE_RATE_LIMIT:
        return IdsyncError(
            FAILURE_RATE,
            failed=failed,
            total=attempted,
            limit=int(FAILURE_RATE_LIMIT * 100),
            integration=integration,
        )
    return None
