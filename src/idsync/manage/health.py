"""Diagnosis as administrators use it: after every cycle, and on demand (``idsync doctor``)."""

from __future__ import annotations

from idsync.config import Settings
from idsync.health import findings
from idsync.health.diagnose import diagnose
from idsync.health.findings import Finding
from idsync.logs import get_logger
from idsync.manage.integrations import get_integration, list_integrations
from idsync.store import integrations as jobs
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.sync.jobs import JobStatus
from idsync.sync.report import CycleReport

log = get_logger("idsync.health")

_FAILING = (JobStatus.QUARANTINE, JobStatus.DISABLED)


def after_cycle(
    db: Database,
    record: IntegrationRecord,
    job: JobRecord,
    report: CycleReport,
    config: Settings | None = None,
) -> None:
    """A failed or quarantined cycle is diagnosed at once; a clean one closes the findings."""
    if report.outcome == "preview":
        return
    if job.status in _FAILING or report.outcome == "failed":
        found = diagnose(db, record, job, config)
        if found is not None:
            stored = findings.record(db, record.org_id, found)
            log.warning(
                "finding recorded",
                integration=record.id,
                cause=stored.cause,
                tracking_id=stored.tracking_id,
            )
    elif (
        report.outcome == "succeeded"
        and job.status == JobStatus.ACTIVE
        and findings.resolve(db, record.id)
    ):
        log.info("findings resolved", integration=record.id, tracking_id=report.tracking_id)


def doctor(
    db: Database,
    *,
    org_id: str | None = None,
    ref: str | None = None,
    config: Settings | None = None,
) -> list[Finding]:
    """The open finding of every failing integration (of an org, or one integration),
    diagnosing those that have none yet; healthy integrations have none."""
    if ref is not None:
        record = get_integration(db, ref, org_id)
        pairs = [(record, _job(db, record))]
    else:
        pairs = list_integrations(db, org_id)
    found: list[Finding] = []
    for record, job in pairs:
        finding = _current(db, record, job, config)
        if finding is not None:
            found.append(finding)
    return found


def _current(
    db: Database, record: IntegrationRecord, job: JobRecord, config: Settings | None
) -> Finding | None:
    stored = findings.open_finding(db, record.id, record.name)
    if stored is not None or job.status not in _FAILING:
        return stored
    fresh = diagnose(db, record, job, config)
    return findings.record(db, record.org_id, fresh) if fresh else None


def _job(db: Database, record: IntegrationRecord) -> JobRecord:
    with db.read() as conn:
        return jobs.get_job(conn, record.id)
