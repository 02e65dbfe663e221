"""A sync job's status, in Microsoft Entra provisioning's vocabulary, and its backoff.

Entra retries a quarantined job after 6 h, 12 h, 24 h and then daily, and
disables it after four weeks. idsync starts sooner (a credential fixed five
minutes later should not wait six hours) and then follows the same curve.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class JobStatus(StrEnum):
    NOT_CONFIGURED = "NotConfigured"
    NOT_RUN = "NotRun"
    ACTIVE = "Active"
    PAUSED = "Paused"
    QUARANTINE = "Quarantine"
    DISABLED = "Disabled"


PAUSED_REASON = "paused by an administrator"

QUARANTINE_BACKOFF = (
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
"""Retry delays of a quarantined job: one per successive failure, then daily."""
DISABLE_AFTER = timedelta(weeks=4)
FAILURE_RATE_LIMIT = 0.40
"""Quarantine when more than this share of a cycle's objects failed (Entra: 40%)."""
TRANSIENT_FAILURES_LIMIT = 5
"""Cycles in a row that fail on an unreachable or throttling source before quarantine."""
ESCROW_BACKOFF = (timedelta(0), timedelta(minutes=10), timedelta(hours=1), timedelta(hours=6))
"""When a failed object is tried again, by failed attempts: the next cycle, then later."""


def quarantine_retry_at(now: datetime, failures: int) -> datetime:
    step = QUARANTINE_BACKOFF[min(max(failures, 1), len(QUARANTINE_BACKOFF)) - 1]
    return now + step


def escrow_retry_at(now: datetime, attempts: int) -> datetime:
    return now + ESCROW_BACKOFF[min(max(attempts, 1), len(ESCROW_BACKOFF)) - 1]
