"""Repair that finishes by itself: the admin-consent callback of a removed service
principal (docs/health.md, "Repair").

The tenant administrator opens the consent link of the finding and presses Accept;
Entra ID re-creates the enterprise application and sends the browser to
``/consent/callback`` on ``idsync serve``. There idsync checks the signed state, checks
that the service principal exists again, reads who removed it from the directory audit
log (the re-created application can read it), clears the quarantine and runs an
incremental cycle. Nothing in the integration's settings changes, and nobody is
re-provisioned or removed by the repair itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from idsync.config import Settings
from idsync.connectors import registry
from idsync.connectors.entra.audit import AUDIT_ACTIVITIES, RETENTION, audit_evidence
from idsync.errors.catalogue import (
    CONSENT_DECLINED,
    CONSENT_NOT_NEEDED,
    CONSENT_STATE_INVALID,
    ENTRA_SERVICE_PRINCIPAL_MISSING,
    INTEGRATION_NOT_FOUND,
    IdsyncError,
)
from idsync.health import findings
from idsync.health.consent import ConsentState, StateSigner, signed_link
from idsync.health.findings import Finding
from idsync.logs import get_logger
from idsync.manage import jobs
from idsync.manage.integrations import audit_integration, get_integration, get_job
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.sync.jobs import JobStatus
from idsync.sync.report import CycleReport
from idsync.sync.secrets import SecretBox

if TYPE_CHECKING:  # opened through the registry, which imports it (and msal) on use
    from idsync.connectors.entra.source import EntraSource

log = get_logger("idsync.repair")

ACTOR = "admin consent callback"
CAUSE = "service_principal_removed"
REMOVED = AUDIT_ACTIVITIES[CAUSE]


@dataclass(frozen=True)
class Repaired:
    """What the callback did: the job after it, the cycle it ran, who removed the app."""

    integration: IntegrationRecord
    job: JobRecord
    report: CycleReport
    removal: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Consented:
    """Admin consent for an integration with nothing to repair (the console's add flow,
    whose first cycle may already have run on schedule): the enterprise application
    exists, and the browser goes back to the integration."""

    integration: IntegrationRecord


def consent_callback(
    db: Database, config: Settings, params: Mapping[str, str], address: str
) -> Repaired | Consented:
    """Finish the repair the consent link started (or record a new integration's first
    consent); an IdsyncError (nothing changed) when the state is not ours, the
    administrator declined, or there is nothing to repair."""
    record = _integration(db, StateSigner(db, config).verify(params.get("state", "")))
    if params.get("error") or params.get("admin_consent", "").lower() != "true":
        raise _declined(db, record, params, address)
    finding = findings.open_finding(db, record.id, record.name)
    if finding is None:
        return _first_consent(db, config, record, address)
    if finding is None or finding.cause != CAUSE:
        reason = f"its open finding is {finding.cause}" if finding else "it has no open finding"
        raise IdsyncError(CONSENT_NOT_NEEDED, integration=record.name, reason=reason)
    removal = _check_application(db, config, record, finding)
    jobs.restart(db, record.id, ["quarantine"], actor=ACTOR)
    report = jobs.run_cycle(db, config, record.id, actor=ACTOR, follow_running=True)
    _audit(db, record, "Repair by admin consent", address, _summary(report))
    log.info("repaired by admin consent", integration=record.id, cycle=report.cycle_id)
    return Repaired(record, get_job(db, record.id), report, removal)


def _first_consent(
    db: Database, config: Settings, record: IntegrationRecord, address: str
) -> Consented:
    if record.kind != "entra":
        raise IdsyncError(CONSENT_NOT_NEEDED, integration=record.name, reason=record.kind)
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    source = cast("EntraSource", registry.open_source(db, record, secrets))
    try:
        if source.service_principal() is None:
            raise IdsyncError(
                ENTRA_SERVICE_PRINCIPAL_MISSING, **_missing_params(source, record)
            ).for_integration(record.id)
    finally:
        source.close()
    _audit(db, record, "Admin consent granted", address, {})
    return Consented(record)


def first_consent_link(db: Database, config: Settings, ref: str) -> str | None:
    """A new Entra integration's admin-consent link, coming back to idsync (None for other
    kinds, or when the server's public URL is not known)."""
    record = get_integration(db, ref)
    if record.kind != "entra":
        return None
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    built = registry.validate(record.kind, record.direction, record.name, record.settings, secrets)
    plain = str(built.consent_url)
    return signed_link(db, config, record.org_id, record.id, plain)


def _integration(db: Database, state: ConsentState) -> IntegrationRecord:
    """The integration the state names, in the org it names (a state is never good for
    another organisation's integration)."""
    try:
        record = get_integration(db, state.integration_id, state.org_id)
    except IdsyncError as exc:
        if exc.error is not INTEGRATION_NOT_FOUND:
            raise
        raise IdsyncError(CONSENT_STATE_INVALID, reason="unknown integration") from None
    return record


def _declined(
    db: Database, record: IntegrationRecord, params: Mapping[str, str], address: str
) -> IdsyncError:
    # Entra's error_description carries trace ids over several lines: the first is enough.
    said = (params.get("error_description") or "").splitlines()
    reason = params.get("error") or "no admin_consent=True"
    if said:
        reason = f"{reason}: {said[0]}"
    _audit(db, record, "Admin consent not granted", address, {"reason": reason}, "failure")
    return IdsyncError(CONSENT_DECLINED, reason=reason)


def _check_application(
    db: Database, config: Settings, record: IntegrationRecord, finding: Finding
) -> dict[str, Any]:
    """The service principal exists again; what the audit log says about its removal
    is added to the finding (before the cycle closes it)."""
    if record.kind != "entra":
        raise IdsyncError(CONSENT_NOT_NEEDED, integration=record.name, reason=record.kind)
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    source = cast("EntraSource", registry.open_source(db, record, secrets))
    try:
        principal = source.service_principal()
        if principal is None:
            raise IdsyncError(
                ENTRA_SERVICE_PRINCIPAL_MISSING,
                **_missing_params(source, record),
            ).for_integration(record.id)
        removal = _removal(source, get_job(db, record.id), principal)
    finally:
        source.close()
    findings.complete(db, record.id, record.name, CAUSE, removal)
    return removal


def _missing_params(source: EntraSource, record: IntegrationRecord) -> dict[str, Any]:
    settings = source.settings
    return {
        "status": 200,
        "tenant": settings.tenant_id,
        "client_id": settings.client_id,
        "consent_url": settings.consent_url,
        "upstream": "the application's service principal is still missing after consent",
        "integration": record.name,
    }


def _removal(source: EntraSource, job: JobRecord, principal: dict[str, Any]) -> dict[str, Any]:
    """The newest "Remove service principal" event of this application: activity, the
    user who did it, when, its category. Empty when the log does not have it."""
    since = (job.quarantined_at or job.updated_at) - RETENTION
    events = list(source.directory_audits(activity=REMOVED, since=since, top=50))
    return audit_evidence(events, source.settings.client_id, principal.get("displayName"))


def _summary(report: CycleReport) -> dict[str, Any]:
    return {
        "cycle_id": report.cycle_id,
        "mode": report.mode,
        "outcome": report.outcome,
        "status": report.status,
        "counts": dict(report.counts),
    }


def _audit(
    db: Database,
    record: IntegrationRecord,
    activity: str,
    address: str,
    details: dict[str, Any],
    result: str = "success",
) -> None:
    """Who: the callback, from the address the administrator's browser came from."""
    with db.write() as conn:
        audit_integration(
            conn,
            record,
            record.org_id,
            activity,
            ACTOR,
            {"address": address, **details},
            result=result,
        )


# --- idsync repair -----------------------------------------------------------------------


@dataclass(frozen=True)
class RepairStatus:
    integration: IntegrationRecord
    finding: Finding | None
    job: JobRecord
    consent_url: str | None
    """A fresh link that comes back to idsync (removed service principal only)."""

    @property
    def repaired(self) -> bool:
        return self.finding is None and self.job.status == JobStatus.ACTIVE


def repair_status(db: Database, config: Settings, ref: str) -> RepairStatus:
    """The integration's open finding, its job, and for a removed service principal a
    consent link with a fresh state (when the server's public URL is known)."""
    record = get_integration(db, ref)
    finding = findings.open_finding(db, record.id, record.name)
    link = None
    if finding is not None and finding.cause == CAUSE and finding.evidence.get("consent_url"):
        plain = str(finding.evidence["consent_url"])
        link = signed_link(db, config, record.org_id, record.id, plain) or plain
    return RepairStatus(record, finding, get_job(db, record.id), link)
