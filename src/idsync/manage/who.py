"""Who did it, before the application can read the tenant again: the directory audit
event behind a finding, read with the administrator's own sign-in (docs/health.md).

A removed service principal, revoked consent or a disabled application is something
a person did in the tenant. idsync's application reads the audit log itself once
consent is granted again; an administrator who wants the name now signs in
(authorization code with PKCE) and idsync reads the log with that delegated token,
adds the event to the open finding, and forgets the token.
"""

from __future__ import annotations

from collections.abc import Callable

from idsync.config import Settings
from idsync.connectors import registry
from idsync.connectors.entra.audit import AUDIT_ACTIVITIES, RETENTION, audit_evidence
from idsync.connectors.entra.settings import EntraSettings
from idsync.errors.catalogue import NOTHING_TO_ASK, SIGN_IN_FAILED, IdsyncError
from idsync.health import findings
from idsync.health.findings import Finding
from idsync.logs import get_logger
from idsync.manage.integrations import audit_integration, get_integration, get_job
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord
from idsync.sync.secrets import SecretBox

log = get_logger("idsync.who")


def who_by_sign_in(
    db: Database,
    config: Settings,
    ref: str,
    show: Callable[[str], None],
    *,
    timeout: float,
    client_id: str | None = None,
) -> Finding:
    """Sign in through the link ``show`` is given, read the audit event behind the
    integration's open finding, and add it to the finding (returned). ``client_id``:
    the public client to sign in with (default: Microsoft Graph Command Line Tools)."""
    # Here, not at the top: it brings msal, which `idsync doctor` without --sign-in
    # (and every other command importing this module) should not load.
    from idsync.connectors.entra import delegated

    record = get_integration(db, ref)
    finding = findings.open_finding(db, record.id, record.name)
    if finding is None or finding.cause not in AUDIT_ACTIVITIES:
        reason = f"its open finding is {finding.cause}" if finding else "it has no open finding"
        raise IdsyncError(NOTHING_TO_ASK, integration=record.name, reason=reason)
    settings = _settings(db, config, record)
    try:
        token = delegated.sign_in(
            settings, show, timeout=timeout, client_id=client_id or delegated.SIGN_IN_CLIENT_ID
        )
    except delegated.SignInError as exc:
        raise IdsyncError(
            SIGN_IN_FAILED, tenant=settings.tenant_id, reason=str(exc), integration=record.name
        ) from None
    job = get_job(db, record.id)
    since = (job.quarantined_at or job.updated_at) - RETENTION
    events = list(
        delegated.directory_audits(
            settings, token, activity=AUDIT_ACTIVITIES[finding.cause], since=since
        )
    )
    evidence = {**audit_evidence(events, settings.client_id), "read_by": "administrator sign-in"}
    completed = findings.complete(db, record.id, record.name, finding.cause, evidence)
    with db.write() as conn:
        audit_integration(
            conn,
            record,
            record.org_id,
            "Read directory audit log by sign-in",
            "cli",
            {"cause": finding.cause, "found": evidence.get("audit_id") is not None},
        )
    log.info("finding completed by sign-in", integration=record.id, cause=finding.cause)
    return completed or finding


def _settings(db: Database, config: Settings, record: IntegrationRecord) -> EntraSettings:
    if record.kind != "entra":
        raise IdsyncError(NOTHING_TO_ASK, integration=record.name, reason=record.kind)
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    settings = registry.validate(
        record.kind, record.direction, record.name, record.settings, secrets
    )
    assert isinstance(settings, EntraSettings)
    return settings
