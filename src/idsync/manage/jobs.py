"""Sync jobs as an administrator drives them: run a cycle (or follow the one running),
provision one object, restart, pause and resume, approve staged deletions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from idsync.config import Settings
from idsync.connectors import registry
from idsync.contract.protocols import Source, Target
from idsync.contract.records import OBJECT_TYPES, ObjectType
from idsync.errors.catalogue import (
    DELETION_THRESHOLD,
    DIRECTORY_SYNC_OFF,
    INVALID_INTEGRATION,
    JOB_BUSY,
    JOB_PAUSED,
    SOURCE_SHRANK,
    IdsyncError,
)
from idsync.errors.tracking import new_tracking_id
from idsync.logs import get_logger
from idsync.manage import health
from idsync.manage.integrations import (
    audit_integration,
    default_mappings,
    get_integration,
    get_job,
)
from idsync.store import integrations as store
from idsync.store import orgs
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.store.types import utcnow
from idsync.sync.engine import Cycle, ProgressCallback, apply_removals
from idsync.sync.follow import follow
from idsync.sync.jobs import PAUSED_REASON, JobStatus
from idsync.sync.report import CycleReport, Tally
from idsync.sync.secrets import SecretBox

log = get_logger("idsync.jobs")


def run_cycle(
    db: Database,
    config: Settings,
    ref: str,
    *,
    full: bool = False,
    preview: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    even_if_paused: bool = False,
    actor: str = "scheduler",
    follow_running: bool = False,
    following: Callable[[JobRecord], None] | None = None,
) -> CycleReport:
    """Run one cycle of the integration's job. A paused job is refused (IDS-409-015) unless
    ``even_if_paused``; such a run is recorded in the audit log, and the job stays paused.

    While another process runs the job's cycle, it is refused (IDS-409-014), or, with
    ``follow_running``, followed to its end (``following`` is told): its report is this
    call's, as if it had run it here."""
    record = get_integration(db, ref)
    if not preview:
        _require_directory_sync(db, record)
    if even_if_paused and not preview:
        _audit_paused_run(db, record, actor)
    options: dict[str, Any] = {
        "full": full,
        "preview": preview,
        "progress": progress,
        "log_days": config.provisioning_log_days,
        "should_stop": should_stop,
        "even_if_paused": even_if_paused,
    }
    while True:
        before = get_job(db, record.id).status
        try:
            with _connected(db, config, record) as (source, target):
                ran = Cycle(
                    db,
                    record,
                    source,
                    target,
                    defaults=default_mappings(record.kind, record.direction),
                    **options,
                ).run()
            health.after_cycle(db, config, record, get_job(db, record.id), ran, before=before)
            return ran
        except IdsyncError as exc:
            if not follow_running or exc.error is not JOB_BUSY:
                raise
        if following is not None:
            following(get_job(db, record.id))
        report = follow(db, record, progress)
        if report is not None:
            return report


def _require_directory_sync(db: Database, record: IntegrationRecord) -> None:
    with db.read() as conn:
        org = orgs.get_org(conn, record.org_id)
    if org is not None and not org.directory_sync:
        raise IdsyncError(DIRECTORY_SYNC_OFF, org=org.id, name=org.name)


def _audit_paused_run(db: Database, record: IntegrationRecord, actor: str) -> None:
    with db.write() as conn:
        if store.get_job(conn, record.id).status == JobStatus.PAUSED:
            audit_integration(conn, record, record.org_id, "Run paused sync job", actor)


@contextmanager
def _connected(
    db: Database, config: Settings, record: IntegrationRecord
) -> Iterator[tuple[Source, Target]]:
    """The integration's source and target, closed whatever happens."""
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    source = registry.open_source(db, record, secrets)
    try:
        target = registry.open_target(db, record, secrets)
        try:
            yield source, target
        finally:
            target.close()
    finally:
        source.close()


def provision_one(
    db: Database, config: Settings, ref: str, object_type: ObjectType, source_id: str
) -> list[dict[str, Any]]:
    """Provision one object now; returns its provisioning log entries."""
    record = get_integration(db, ref)
    with _connected(db, config, record) as (source, target):
        cycle = Cycle(
            db, record, source, target, defaults=default_mappings(record.kind, record.direction)
        )
        cycle_id = cycle.run_one(object_type, source_id)
    with db.read() as conn:
        entries = state.read_log(conn, record.id, cycle_id=cycle_id, limit=1000)
    return list(reversed(entries))


RESETS = ("watermark", "escrow", "quarantine", "full")


def restart(db: Database, ref: str, resets: list[str], *, actor: str) -> JobRecord:
    """Entra's "restart provisioning": clear what the administrator asks, make the job due now."""
    record = get_integration(db, ref)
    unknown = sorted(set(resets) - set(RESETS))
    if unknown:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"unknown reset {', '.join(unknown)}",
            hint="Use any of: " + ", ".join(RESETS),
        )
    everything = "full" in resets
    tracking_id = new_tracking_id()
    values: dict[str, Any] = {"next_run_at": utcnow(), "tracking_id": tracking_id}
    if everything or "watermark" in resets:
        values.update(watermark={}, checkpoint=None)
    if everything or "quarantine" in resets:
        values.update(
            status=JobStatus.ACTIVE,
            reason_code=None,
            reason=None,
            quarantined_at=None,
            successive_failures=0,
        )
    with db.write() as conn:
        if everything or "escrow" in resets:
            state.clear_escrow(conn, record.id)
        store.update_job(conn, record.id, **values)
        audit_integration(
            conn,
            record,
            record.org_id,
            "Restart sync job",
            actor,
            {"reset": sorted(resets)},
            tracking_id=tracking_id,
        )
    log.info("job restarted", integration=record.id, reset=sorted(resets), tracking_id=tracking_id)
    return get_job(db, record.id)


def set_paused(db: Database, ref: str, paused: bool, *, actor: str) -> JobRecord:
    record = get_integration(db, ref)
    tracking_id = new_tracking_id()
    activity = "Pause sync job" if paused else "Resume sync job"
    with db.write() as conn:
        job = store.get_job(conn, record.id)
        resumed = JobStatus.ACTIVE if job.last_cycle_id else JobStatus.NOT_RUN
        store.update_job(
            conn,
            record.id,
            status=JobStatus.PAUSED if paused else resumed,
            reason_code=None,
            reason=PAUSED_REASON if paused else None,
            tracking_id=tracking_id,
        )
        audit_integration(conn, record, record.org_id, activity, actor, tracking_id=tracking_id)
    log.info(activity.lower(), integration=record.id, tracking_id=tracking_id)
    return get_job(db, record.id)


def approve_deletes(db: Database, config: Settings, ref: str, *, actor: str) -> dict[str, int]:
    """Apply the removals a cycle staged (deletion threshold or a shrunken source)."""
    record = get_integration(db, ref)
    with db.read() as conn:
        staged = state.list_pending(conn, record.id, staged=True)
    tally = Tally()
    job = get_job(db, record.id)
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    target = registry.open_target(db, record, secrets)
    try:
        apply_removals(db, record, target, staged, job.last_cycle_id or "approval", tally)
    finally:
        target.close()
    tracking_id = new_tracking_id()
    with db.write() as conn:
        if job.status == JobStatus.QUARANTINE and job.reason_code in (
            DELETION_THRESHOLD.code,
            SOURCE_SHRANK.code,
        ):
            store.update_job(
                conn,
                record.id,
                status=JobStatus.ACTIVE,
                reason_code=None,
                reason=None,
                quarantined_at=None,
                tracking_id=tracking_id,
            )
        audit_integration(
            conn,
            record,
            record.org_id,
            "Approve staged deletions",
            actor,
            dict(tally.counts),
            tracking_id=tracking_id,
        )
    log.info("staged deletions approved", integration=record.id, tracking_id=tracking_id)
    return dict(tally.counts)


def linked_counts(db: Database, integration_id: str) -> dict[str, int]:
    """How many users and groups the integration has linked (a progress bar's estimate)."""
    with db.read() as conn:
        return {t: state.count_links(conn, integration_id, t) for t in OBJECT_TYPES}


def provisioning_log(
    db: Database,
    integration_id: str,
    *,
    cycle_id: str | None = None,
    action: str | None = None,
    result: str | None = None,
    source_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The integration's provisioning log, newest first, filtered as given."""
    with db.read() as conn:
        return state.read_log(
            conn,
            integration_id,
            cycle_id=cycle_id,
            action=action,
            result=result,
            source_id=source_id,
            limit=limit,
        )


def recent_cycles(db: Database, integration_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The integration's newest cycles, newest first: mode, outcome, counts, seconds."""
    with db.read() as conn:
        rows = state.recent_cycles(conn, integration_id, limit)
    return [
        {
            "id": row.id,
            "mode": row.mode,
            "status": row.status,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
            "seconds": (
                round((row.finished_at - row.started_at).total_seconds(), 3)
                if row.finished_at
                else None
            ),
            "counts": dict(row.counts or {}),
            "error_code": row.error_code,
            "reason": row.reason,
            "tracking_id": row.tracking_id,
        }
        for row in rows
    ]


def progress(db: Database, integration_id: str) -> dict[str, Any]:
    """Where the job's running cycle is (from the checkpoint it saves after every page):
    objects read and written, the rate since it started, and an ETA from the number of
    objects the integration had linked before; ``running`` false when none runs."""
    job = get_job(db, integration_id)
    if job.running_since is None:
        return {"running": False, "status": job.status, "tracking_id": job.tracking_id}
    checkpoint = job.checkpoint or {}
    counts = dict((checkpoint.get("tally") or {}).get("counts", {}))
    read = sum(counts.get(f"{t}sRead", 0) for t in OBJECT_TYPES)
    written = sum(counts.get(a, 0) for a in ("create", "update", "disable", "delete"))
    elapsed = max((utcnow() - job.running_since).total_seconds(), 0.001)
    rate = read / elapsed
    expected = sum(linked_counts(db, integration_id).values())
    eta = (expected - read) / rate if rate > 0 and expected > read else None
    return {
        "running": True,
        "status": job.status,
        "since": job.running_since,
        "phase": checkpoint.get("phase"),
        "read": read,
        "written": written,
        "per_second": round(rate, 1),
        "expected": expected or None,
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "cycle_id": checkpoint.get("cycle_id"),
    }


def start_cycle(db: Database, config: Settings, ref: str, *, actor: str) -> IntegrationRecord:
    """Run one cycle in a thread of this process and return at once (the console's and the
    management API's "Run now"); its progress and outcome are the job's and the cycle's,
    as for any cycle. What would refuse it at once (directory sync off, a paused job, a
    cycle already running) is raised here, so the administrator hears it now."""
    record = get_integration(db, ref)
    job = get_job(db, record.id)
    _require_directory_sync(db, record)
    if job.status == JobStatus.PAUSED:
        raise IdsyncError(JOB_PAUSED, integration=record.name).for_integration(record.id)
    if job.running_since is not None:
        raise IdsyncError(
            JOB_BUSY, integration=record.name, since=job.running_since
        ).for_integration(record.id)
    log.info("cycle started by an administrator", integration=record.id, actor=actor)
    threading.Thread(
        target=_run_in_background,
        args=(db, config, record.id, actor),
        name=f"cycle-{record.id}",
        daemon=True,
    ).start()
    return record


def _run_in_background(db: Database, config: Settings, integration_id: str, actor: str) -> None:
    try:
        run_cycle(db, config, integration_id, actor=actor)
    except IdsyncError as exc:
        # The cycle recorded its failure (job, cycle row, finding) where the console reads it.
        log.warning("cycle ended with an error", integration=integration_id, code=exc.error.code)
    except Exception:
        log.exception("cycle crashed", integration=integration_id)
