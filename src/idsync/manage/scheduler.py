"""The in-process scheduler of ``idsync serve``: runs due jobs, one cycle per job at a time.

This is the embedded default. The seam is :func:`run_due_jobs`: it finds due jobs and
runs each through the same service call the CLI uses, so a distributed task engine
can call it (or ``jobs.run_cycle`` per job) instead of this thread.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from idsync.config import Settings
from idsync.errors.catalogue import IdsyncError
from idsync.logs import get_logger
from idsync.manage import health, integrations, jobs
from idsync.store import audit
from idsync.store import integrations as store
from idsync.store.database import Database
from idsync.store.types import utcnow
from idsync.sync.jobs import DISABLE_AFTER, JobStatus

log = get_logger("idsync.scheduler")


def disable_abandoned(db: Database, config: Settings) -> None:
    """A job in quarantine for four weeks is disabled, as Entra does (and alerts)."""
    cutoff = utcnow() - DISABLE_AFTER
    for record, job in integrations.list_integrations(db):
        if (
            job.status == JobStatus.QUARANTINE
            and job.quarantined_at
            and job.quarantined_at < cutoff
        ):
            with db.write() as conn:
                store.update_job(
                    conn,
                    record.id,
                    status=JobStatus.DISABLED,
                    reason=f"in quarantine since {job.quarantined_at:%Y-%m-%d}; {job.reason}",
                )
            health.after_disabled(db, config, record)


AUDIT_PRUNE_EVERY = 3600.0
"""Seconds between two prunings of the audit log by the scheduler."""


def prune_audit_log(db: Database, config: Settings, *, batch: int = 1000) -> int:
    """Delete audit rows older than ``audit_log_days``, a batch per transaction; how many.

    Small transactions: the first pruning of a large log never holds SQLite's writer
    for long.
    """
    cutoff = utcnow() - timedelta(days=config.audit_log_days)
    total = 0
    while True:
        with db.write() as conn:
            deleted = audit.prune(conn, cutoff, limit=batch)
        total += deleted
        if deleted < batch:
            return total


def run_due_jobs(db: Database, config: Settings, pool: ThreadPoolExecutor) -> int:
    with db.read() as conn:
        due = store.due_jobs(conn, utcnow())
    for integration_id in due:
        pool.submit(_run_one, db, config, integration_id)
    return len(due)


def _run_one(db: Database, config: Settings, integration_id: str) -> None:
    try:
        report = jobs.run_cycle(db, config, integration_id)
        log.info(
            "scheduled cycle done",
            integration=integration_id,
            status=report.status,
            counts=report.counts,
        )
    except IdsyncError as exc:
        log.info(
            "scheduled cycle not run",
            integration=integration_id,
            code=exc.error.code,
            reason=exc.message,
        )
    except Exception:
        log.exception("scheduled cycle crashed", integration=integration_id)


class Scheduler:
    """A daemon thread polling for due jobs every ``scheduler_poll_seconds``."""

    def __init__(self, db: Database, config: Settings, *, concurrency: int = 2) -> None:
        self.db = db
        self.config = config
        self._stop = threading.Event()
        self._next_prune = 0.0
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="idsync-sync")
        self._thread = threading.Thread(target=self._loop, name="idsync-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                disable_abandoned(self.db, self.config)
                run_due_jobs(self.db, self.config, self._pool)
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + AUDIT_PRUNE_EVERY
                    prune_audit_log(self.db, self.config)
            except Exception:
                log.exception("scheduler tick failed")
            self._stop.wait(self.config.scheduler_poll_seconds)
