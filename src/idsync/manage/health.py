"""Diagnosis as administrators use it: after every cycle, and on demand (``idsync doctor``)."""

from __future__ import annotations

import threading
from datetime import timedelta

from idsync.config import Settings
from idsync.health import alerts, findings
from idsync.health.diagnose import diagnose
from idsync.health.findings import Finding
from idsync.health.inbound import inbound_findings as inbound_findings
from idsync.logs import get_logger
from idsync.manage import alerts as notify
from idsync.manage.integrations import get_integration, get_job, list_integrations
from idsync.store import audit, orgs
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.store.tokens import TokenRecord
from idsync.store.types import utcnow
from idsync.sync.jobs import JobStatus
from idsync.sync.report import CycleReport

log = get_logger("idsync.health")

_FAILING = (JobStatus.QUARANTINE, JobStatus.DISABLED)


def after_cycle(
    db: Database,
    config: Settings,
    record: IntegrationRecord,
    job: JobRecord,
    report: CycleReport,
    *,
    before: str | None = None,
) -> None:
    """A failed or quarantined cycle is diagnosed at once; a clean one closes the findings.

    ``before`` is the job's status before the cycle: entering Quarantine or Disabled
    alerts once, not on every failing cycle after; so does the clean cycle that resolves
    such a finding (recovery: a restart makes the job Active before a cycle proves it)."""
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
            event = alerts.transition(before, job.status)
            if event is not None:
                _alert(db, config, event, stored, job)
    elif report.outcome == "succeeded" and job.status == JobStatus.ACTIVE:
        previous = findings.open_finding(db, record.id, record.name)
        if findings.resolve(db, record.id):
            log.info("findings resolved", integration=record.id, tracking_id=report.tracking_id)
            if previous is not None and alerts.was_failing(previous):
                _alert(db, config, "recovered", previous, job, tracking_id=report.tracking_id)


def after_disabled(db: Database, config: Settings, record: IntegrationRecord) -> None:
    """The scheduler disabled the job (four weeks in Quarantine): alert with its finding."""
    job = get_job(db, record.id)
    finding = _current(db, record, job, config)
    if finding is not None:
        _alert(db, config, "disabled", finding, job)


def _alert(
    db: Database,
    config: Settings,
    event: alerts.Event,
    finding: Finding,
    job: JobRecord,
    *,
    tracking_id: str | None = None,
) -> None:
    with db.read() as conn:
        org = orgs.get_org(conn, job.org_id)
    alert = alerts.from_finding(
        event,
        finding,
        org_id=job.org_id,
        org=org.name if org else job.org_id,
        job_status=job.status,
        time=utcnow(),
        tracking_id=tracking_id,
        public_url=config.public_url,
    )
    notify.notify(db, config, alert)


def doctor(
    db: Database,
    *,
    org_id: str | None = None,
    ref: str | None = None,
    config: Settings | None = None,
) -> list[Finding]:
    """The open finding of every failing integration (of an org, or one integration),
    diagnosing those that have none yet; healthy integrations have none. Without
    ``ref``, also the hub side: directories refused for a revoked or expired token."""
    if ref is not None:
        record = get_integration(db, ref, org_id)
        pairs = [(record, get_job(db, record.id))]
    else:
        pairs = list_integrations(db, org_id)
    found: list[Finding] = []
    for record, job in pairs:
        finding = _current(db, record, job, config)
        if finding is not None:
            found.append(finding)
    if ref is None:
        found.extend(inbound_findings(db, org_id=org_id))
    return found


def _current(
    db: Database, record: IntegrationRecord, job: JobRecord, config: Settings | None
) -> Finding | None:
    stored = findings.open_finding(db, record.id, record.name)
    if stored is not None or job.status not in _FAILING:
        return stored
    fresh = diagnose(db, record, job, config)
    return findings.record(db, record.org_id, fresh) if fresh else None


REFUSED_ALERT = "Alert directory refused"
REFUSED_ALERT_EVERY = timedelta(hours=24)
"""A directory that keeps presenting a bad token alerts once a day, not once a minute."""


def after_refusal(db: Database, config: Settings, token: TokenRecord) -> threading.Thread:
    """A revoked or expired hub token was refused (the first time in its window): alert
    the org, in a thread, so the 401 goes out at once."""
    thread = threading.Thread(
        target=_alert_refused, args=(db, config, token), name="idsync-refused", daemon=True
    )
    thread.start()
    return thread


def _alert_refused(db: Database, config: Settings, token: TokenRecord) -> None:
    found = [f for f in inbound_findings(db, org_id=token.org_id) if f.token_id == token.id]
    if not found:
        return
    now = utcnow()
    with db.read() as conn:
        recent = audit.query(
            conn, org_id=token.org_id, since=now - REFUSED_ALERT_EVERY, activity=REFUSED_ALERT
        )
        org = orgs.get_org(conn, token.org_id)
    if any(event.target == token.id for event in recent):
        return
    alert = alerts.from_inbound(
        found[0], org=org.name if org else token.org_id, time=now, public_url=config.public_url
    )
    if notify.notify(db, config, alert) is None:
        return  # the org has no alerts configured
    with db.write() as conn:
        audit.record(
            conn,
            org_id=token.org_id,
            category="OrganisationManagement",
            activity=REFUSED_ALERT,
            result="success",
            actor="idsync",
            target=token.id,
            tracking_id=alert.tracking_id,
            details={"cause": alert.cause},
        )
