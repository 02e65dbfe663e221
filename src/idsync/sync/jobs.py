"""A sync job's state machine: its status in Microsoft Entra provisioning's vocabulary,
the transitions a cycle makes, the backoff, and the claim that lets one process run it.

Every change of a job's status goes through here (``claimed``, ``succeeded``,
``quarantined``), so diagnosis reads one vocabulary.

Entra retries a quarantined job after 6 h, 12 h, 24 h and then daily, and
disables it after four weeks. idsync starts sooner (a credential fixed five
minutes later should not wait six hours) and then follows the same curve.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from idsync.errors.catalogue import JOB_BUSY, IdsyncError
from idsync.store import integrations as job_rows
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord
from idsync.store.types import utcnow


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
TRANSIENT_FAILURES_LIMIT = 5
"""Cycles in a row that fail on an unreachable or throttling source before quarantine."""
ESCROW_BACKOFF = (timedelta(0), timedelta(minutes=10), timedelta(hours=1), timedelta(hours=6))
"""When a failed object is tried again, by failed attempts: the next cycle, then later."""


def quarantine_retry_at(now: datetime, failures: int) -> datetime:
    step = QUARANTINE_BACKOFF[min(max(failures, 1), len(QUARANTINE_BACKOFF)) - 1]
    return now + step


def escrow_retry_at(now: datetime, attempts: int) -> datetime:
    return now + ESCROW_BACKOFF[min(max(attempts, 1), len(ESCROW_BACKOFF)) - 1]


STALE_CLAIM = timedelta(minutes=2)
"""A running cycle saves a checkpoint (and so renews its claim) at least this often."""


def new_owner() -> str:
    """Who claims a job: host, process and a nonce, so a crash on this host is recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def died_here(owner: str) -> bool:
    """Whether a claim was made on this host by a process that no longer exists
    (killed mid-cycle): its cycle can be resumed at once instead of after STALE_CLAIM."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def claimed(db: Database, integration: IntegrationRecord, owner: str) -> Iterator[None]:
    """Hold the job for one cycle; JOB_BUSY when another live process holds it. A claim
    older than STALE_CLAIM, or made here by a process that died, is taken over."""
    with db.write() as conn:
        won = job_rows.claim_job(conn, integration.id, owner, utcnow() - STALE_CLAIM)
        if not won:
            job = job_rows.get_job(conn, integration.id)
            if job.running_by and died_here(job.running_by):
                won = job_rows.take_over_job(conn, integration.id, job.running_by, owner)
    if not won:
        with db.read() as conn:
            since = job_rows.get_job(conn, integration.id).running_since
        raise IdsyncError(JOB_BUSY, integration=integration.name, since=since).for_integration(
            integration.id
        )
    try:
        yield
    finally:
        with db.write() as conn:
            job_rows.release_job(conn, integration.id, owner)


def succeeded() -> dict[str, Any]:
    """A cycle finished with nothing refused: the job is Active."""
    return {
        "status": JobStatus.ACTIVE,
        "reason_code": None,
        "reason": None,
        "successive_failures": 0,
        "quarantined_at": None,
    }


def quarantined(refusal: IdsyncError, now: datetime) -> dict[str, Any]:
    """A cycle refused to finish (deletions staged, too many failures): Quarantine until
    an administrator acts; not a failure that counts toward Disabled."""
    return {
        "status": JobStatus.QUARANTINE,
        "reason_code": refusal.error.code,
        "reason": refusal.detail,
        "quarantined_at": now,
        "successive_failures": 0,
    }
