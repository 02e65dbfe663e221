"""Sync jobs as an administrator drives them: run a cycle (or follow the one running),
provision one object, restart, pause and resume, approve staged deletions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from idsync.config import Settings
from idsync.connectors import registry
from idsync.contract.protocols import Source, Target
from idsync.contract.records import OBJECT_TYPES, ObjectType
from idsync.errors.catalogue import (
    DELETION_THRESHOLD,
    INVALID_INTEGRATION,
    JOB_BUSY,
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
