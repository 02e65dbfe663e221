"""Following a cycle that another process runs (``idsync serve``'s scheduler, a worker,
another ``idsync sync run``), as ``sync run`` does instead of refusing: its progress
from the checkpoint the cycle saves after every page, then its result from its row in
``sync_cycles`` and the job, which are what the process running it reports."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idsync.contract.records import OBJECT_TYPES
from idsync.store import integrations as jobs
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.store.types import utcnow
from idsync.sync.engine import Progress, ProgressCallback
from idsync.sync.jobs import STALE_CLAIM, died_here
from idsync.sync.report import CycleReport

POLL_SECONDS = 0.5
WRITES = ("create", "update", "disable", "delete")


@dataclass
class _Seen:
    """What following has learnt of the running cycle so far."""

    claimed_at: datetime
    cycle_id: str | None = None
    counts: dict[str, int] | None = None


def follow(
    db: Database,
    integration: IntegrationRecord,
    progress: ProgressCallback | None,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> CycleReport | None:
    """Wait for the running cycle of ``integration`` to end, and return its report. None
    when there is no cycle to report: the claim was an on-demand provisioning, or its
    process died (the caller then runs, and so resumes, the cycle itself)."""
    seen: _Seen | None = None
    while True:
        job = _job(db, integration.id)
        if job.running_since is None:
            return _ended(db, integration, seen) if seen is not None else None
        if _abandoned(job):
            return None
        seen = seen or _Seen(claimed_at=job.running_since)
        _watch(seen, job.checkpoint or {}, progress)
        time.sleep(poll_seconds)


def _job(db: Database, integration_id: str) -> JobRecord:
    with db.read() as conn:
        return jobs.get_job(conn, integration_id)


def _abandoned(job: JobRecord) -> bool:
    """The same test as the claim's: a cycle that stopped renewing its claim, or whose
    process on this host is gone, is resumed by whoever runs the job next."""
    assert job.running_since is not None
    stale = job.running_since < utcnow() - STALE_CLAIM
    return stale or (job.running_by is not None and died_here(job.running_by))


def _watch(seen: _Seen, checkpoint: dict[str, Any], progress: ProgressCallback | None) -> None:
    seen.cycle_id = checkpoint.get("cycle_id") or seen.cycle_id
    counts = dict((checkpoint.get("tally") or {}).get("counts", {}))
    if progress is None or counts == seen.counts:
        return
    seen.counts = counts
    written = sum(counts.get(action, 0) for action in WRITES)
    for object_type in OBJECT_TYPES:
        read = counts.get(f"{object_type}sRead", 0)
        if read or checkpoint.get("phase") == object_type:
            progress(Progress(object_type, read, written, "read"))


def _ended(db: Database, integration: IntegrationRecord, seen: _Seen) -> CycleReport | None:
    with db.read() as conn:
        if seen.cycle_id is not None:
            cycle = state.get_cycle(conn, seen.cycle_id)
        else:  # it ended before its first checkpoint was seen
            cycle = state.latest_cycle(conn, integration.id, seen.claimed_at)
        job = jobs.get_job(conn, integration.id)
    if cycle is None or cycle.mode == "onDemand":
        return None
    finished = cycle.finished_at or utcnow()
    return CycleReport(
        integration_id=integration.id,
        cycle_id=cycle.id,
        mode=cycle.mode,
        outcome=cycle.status,
        status=job.status,
        reason_code=job.reason_code,
        reason=job.reason,
        counts=dict(cycle.counts),
        seconds={
            **cycle.timings,
            "cycle": round((finished - cycle.started_at).total_seconds(), 3),
        },
        started_at=cycle.started_at,
        finished_at=finished,
        tracking_id=cycle.tracking_id,
    )
