"""Sync cycles as tasks of procrastinate, on the production PostgreSQL (``idsync worker``).

Beyond one process, idsync runs cycles on an existing task engine instead of its own
thread (docs/architecture.md, "Scale-out"): procrastinate keeps its queue in the same
PostgreSQL as the hub, so a deployment adds no broker. Any number of ``idsync worker`` processes
share the work:

- a periodic task (every ``poll_seconds``, deferred once cluster-wide by procrastinate)
  queues a ``run_cycle`` task for each due job; the job's id is both the task's
  ``queueing_lock`` (at most one waiting) and its ``lock`` (at most one running);
- ``run_cycle`` is the same service call ``idsync serve``'s embedded scheduler and
  ``idsync sync run`` make, and the cycle's own claim in ``sync_jobs`` still holds: two
  engines can never run one job at once;
- a worker that dies stops heartbeating: the periodic task hands its stalled task
  back to the queue, and the next worker resumes the cycle from its checkpoint;
- on SIGTERM/SIGINT a worker asks its running cycles to stop at their next checkpoint,
  waits for them, and exits; the job is due again at once, for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate import exceptions as procrastinate_errors
from procrastinate.jobs import Status
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT
from procrastinate.schema import SchemaManager
from sqlalchemy import make_url

from idsync.config import Settings
from idsync.errors.catalogue import IdsyncError
from idsync.logs import get_logger
from idsync.manage import jobs
from idsync.manage.scheduler import disable_abandoned
from idsync.store import integrations as store
from idsync.store.database import Database
from idsync.store.types import utcnow
from idsync.sync.jobs import STALE_CLAIM

log = get_logger("idsync.worker")

QUEUE = "idsync-sync"
RUN_CYCLE = "idsync.run_cycle"


def conninfo(database_url: Any) -> str:
    """The libpq form of the hub's SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def create_app(
    db: Database, config: Settings, *, poll_seconds: int = 5, stalled_seconds: float = 30
) -> procrastinate.App:
    """The procrastinate app with idsync's two tasks, bound to this database."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(db.url)))

    @app.task(name=RUN_CYCLE, queue=QUEUE, pass_context=True)
    def run_cycle(context: procrastinate.JobContext, integration_id: str) -> None:
        run_job(db, config, integration_id, should_stop=context.should_abort)

    # croniter (procrastinate's cron) reads a sixth field as the seconds, at the end.
    @app.periodic(cron=f"* * * * * */{poll_seconds}", periodic_id="due")
    @app.task(name="idsync.schedule_due", queue=QUEUE, queueing_lock="idsync.schedule_due")
    async def schedule_due(timestamp: int) -> None:
        await requeue_stalled(app, stalled_seconds)
        due = await asyncio.to_thread(due_jobs, db)
        for integration_id in due:
            # One waiting already will find the job due: no second one.
            with contextlib.suppress(procrastinate_errors.AlreadyEnqueued):
                await run_cycle.configure(
                    lock=integration_id, queueing_lock=integration_id
                ).defer_async(integration_id=integration_id)
        await asyncio.to_thread(disable_abandoned, db, config)

    return app


def due_jobs(db: Database) -> list[str]:
    now = utcnow()
    with db.read() as conn:
        return store.due_jobs(conn, now, stale_before=now - STALE_CLAIM)


def run_job(db: Database, config: Settings, integration_id: str, **options: Any) -> None:
    """Run one job's cycle if it is still due (a task may wait while another ran it)."""
    with db.read() as conn:
        job = store.get_job(conn, integration_id)
    if job.checkpoint is None and job.next_run_at is not None and job.next_run_at > utcnow():
        log.info("cycle not due any more", integration=integration_id)
        return
    try:
        report = jobs.run_cycle(db, config, integration_id, **options)
    except IdsyncError as exc:  # busy elsewhere, removed, paused: nothing to retry
        log.info("cycle not run", integration=integration_id, code=exc.error.code)
        return
    log.info(
        "cycle done",
        integration=integration_id,
        status=report.status,
        mode=report.mode,
        counts=report.counts,
    )


async def requeue_stalled(app: procrastinate.App, stalled_seconds: float) -> None:
    """Cycles of workers that stopped heartbeating (killed, lost) go back to the queue."""
    stalled = await app.job_manager.get_stalled_jobs(
        task_name=RUN_CYCLE, seconds_since_heartbeat=stalled_seconds
    )
    for job in stalled:
        log.warning("requeueing the cycle of a dead worker", job=job.id, lock=job.lock)
        try:
            await app.job_manager.retry_job(job)
        except procrastinate_errors.UniqueViolation as exc:
            if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                raise
            # While it lay stalled, the scheduler found the job due and queued another
            # task for it (the queueing lock only counts waiting tasks). That one resumes
            # the cycle from its checkpoint; this one must only let go of the
            # integration's lock, which it held "doing" forever, so neither ever ran and
            # every tick of the scheduler failed here.
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            log.info("the dead worker's cycle already waits in the queue", job=job.id)


def ensure_schema(db: Database) -> None:
    """Create procrastinate's tables on first start: one worker does it, under a
    transaction-scoped advisory lock, while the others wait for it."""
    with db.write() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(724911)"))
        present = conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if present is None:
            # The driver's own cursor: the schema's '%' must not be read as placeholders.
            with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(SchemaManager.get_schema())


async def serve_worker(
    db: Database,
    config: Settings,
    *,
    concurrency: int,
    poll_seconds: int = 5,
    heartbeat_seconds: float = 10,
) -> None:
    app = create_app(db, config, poll_seconds=poll_seconds, stalled_seconds=3 * heartbeat_seconds)
    ensure_schema(db)
    async with app.open_async():
        await app.run_worker_async(
            queues=[QUEUE],
            concurrency=concurrency,
            # Stop at once: running cycles are asked to stop at their next checkpoint
            # (Cycle.should_stop) and are waited for; they resume elsewhere.
            shutdown_graceful_timeout=0,
            update_heartbeat_interval=heartbeat_seconds,
            stalled_worker_timeout=3 * heartbeat_seconds,
            fetch_job_polling_interval=poll_seconds,
            delete_jobs="successful",  # a tick every few seconds would pile up otherwise
        )
