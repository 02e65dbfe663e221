"""Diagnosis: why an integration's job is failing, told apart by evidence.

Each cause is recognised from the catalogue code the job stopped with and the
evidence its connector kept (AADSTS codes, Graph's answer, the LDAP result and AD's
``data`` sub-code), never guessed from the message text. A finding also says what
idsync protected and how to repair; the repair's commands run as printed.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from idsync.config import Settings
from idsync.connectors.entra.audit import AUDIT_ACTIVITIES
from idsync.errors import catalogue
from idsync.errors.tracking import new_tracking_id
from idsync.health.consent import signed_link
from idsync.health.findings import Confidence, Finding, Step
from idsync.scim.values import format_datetime
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.sync.jobs import JobStatus


@dataclass(frozen=True)
class _Cause:
    cause: str
    summary: str
    confidence: Confidence
    repair: Callable[[IntegrationRecord, dict[str, Any]], tuple[Step, ...]]


def diagnose(
    db: Database,
    integration: IntegrationRecord,
    job: JobRecord,
    settings: Settings | None = None,
) -> Finding | None:
    """The finding for the job as it is now; None when it is not failing. With
    ``settings`` that know the server's public URL, a consent link comes back to
    ``idsync serve``, which then finishes the repair by itself."""
    if job.reason_code is None or job.status in (JobStatus.NOT_RUN, JobStatus.NOT_CONFIGURED):
        return None
    evidence = {"code": job.reason_code, "reason": job.reason, **(job.evidence or {})}
    if job.reason_code == catalogue.FAILURE_RATE.code and job.last_cycle_id:
        evidence.update(_failures(db, integration.id, job.last_cycle_id))
    cause = _cause(job.reason_code, evidence)
    if cause.cause in _DONE_IN_THE_TENANT and "actor" not in evidence:
        evidence["actor"] = None
        evidence["who"] = (
            "not known yet: idsync reads the directory audit log (who did it, and when) "
            "once the application can read the tenant again, or now with your own sign-in: "
            f"idsync doctor --integration {_quoted(integration)} --sign-in"
        )
    return Finding(
        integration_id=integration.id,
        integration=integration.name,
        cause=cause.cause,
        summary=cause.summary.format(name=integration.name, **_fields(evidence)),
        confidence=cause.confidence,
        tracking_id=job.tracking_id or new_tracking_id(),
        evidence={"job_status": job.status, **evidence},
        protected=protected(db, integration, job),
        repair=cause.repair(
            integration, {**evidence, **_links(db, settings, integration, cause, evidence)}
        ),
    )


def _links(
    db: Database,
    settings: Settings | None,
    integration: IntegrationRecord,
    cause: _Cause,
    evidence: dict[str, Any],
) -> dict[str, str]:
    """For the repair steps only (never stored as evidence: it expires): the consent link
    whose callback finishes the repair, when the server's public URL is known."""
    plain = evidence.get("consent_url")
    if cause.cause != "service_principal_removed" or settings is None or not plain:
        return {}
    link = signed_link(db, settings, integration.org_id, integration.id, str(plain))
    return {"callback_consent_url": link} if link else {}


def protected(db: Database, integration: IntegrationRecord, job: JobRecord) -> dict[str, Any]:
    """What idsync kept from harm since the job started failing: nothing it provisioned
    was disabled or deleted, unless the provisioning log says so."""
    since = job.quarantined_at or job.updated_at
    with db.read() as conn:
        users = state.count_links(conn, integration.id, "user")
        groups = state.count_links(conn, integration.id, "group")
        removed = state.count_removals_since(conn, integration.id, since)
        staged = len(state.list_pending(conn, integration.id, staged=True))
    kept = f"{users:,} users and {groups:,} groups kept as they were"
    gone = "no user or group disabled or deleted" if removed == 0 else f"{removed:,} removed"
    summary = f"{gone} since {format_datetime(since)}; {kept}"
    if staged:
        summary += f"; {staged:,} removals staged for approval, not applied"
    return {
        "summary": summary,
        "since": format_datetime(since),
        "users": users,
        "groups": groups,
        "removed_since": removed,
        "staged_removals": staged,
    }


def _fields(evidence: dict[str, Any]) -> dict[str, Any]:
    return {"code": evidence.get("code"), "aadsts": ", ".join(evidence.get("aadsts") or ())}


def _failures(db: Database, integration_id: str, cycle_id: str) -> dict[str, Any]:
    """Why the objects of the failing cycle failed: counts per code, and a few of them."""
    with db.read() as conn:
        counts = state.failures_by_code(conn, integration_id, cycle_id)
        failed = state.read_log(conn, integration_id, cycle_id=cycle_id, result="failure", limit=3)
    examples = [
        {
            "object_type": entry["object_type"],
            "source_id": entry["source_id"],
            "error_code": entry["error_code"],
            "reason": entry["reason"],
            "tracking_id": entry["tracking_id"],
        }
        for entry in failed
    ]
    return {"failures_by_code": counts, "examples": examples}


def _cause(code: str, evidence: dict[str, Any]) -> _Cause:
    if code == catalogue.FAILURE_RATE.code:
        most = next(iter(evidence.get("failures_by_code") or {}), None)
        return _OBJECTS_FAILING.get(most or "", _BY_CODE[code])
    aadsts = set(evidence.get("aadsts") or ())
    if code == catalogue.ENTRA_INVALID_SECRET.code and "AADSTS7000222" in aadsts:
        return _SECRET_EXPIRED
    if code == catalogue.ENTRA_CERTIFICATE_REJECTED.code and "expired" in str(
        evidence.get("aadsts_reason") or ""
    ):
        return _CERTIFICATE_EXPIRED
    if code == catalogue.ENTRA_UNKNOWN_APPLICATION.code and aadsts & _UNKNOWN_TENANT:
        return _TENANT_NOT_FOUND
    if code == catalogue.SOURCE_UNAUTHORIZED.code and "AADSTS7000112" in aadsts:
        return _APP_DISABLED
    if code == catalogue.SOURCE_FORBIDDEN.code and evidence.get("roles") == []:
        return _CONSENT_REVOKED
    return _BY_CODE.get(code) or _Cause(
        "job_failed", "{name}: the job stopped with {code}", "low", _as_the_error_says
    )


def _quoted(integration: IntegrationRecord) -> str:
    return shlex.quote(integration.id)


def _restart(integration: IntegrationRecord) -> Step:
    return Step(
        "Once the cause is fixed, clear the quarantine and run the job again.",
        command=f"idsync sync restart {_quoted(integration)} --reset quarantine",
    )


def _validate(integration: IntegrationRecord) -> Step:
    return Step(
        "After the next cycle, prove the integration healthy.",
        command=f"idsync validate {_quoted(integration)}",
    )


def _as_the_error_says(
    integration: IntegrationRecord, evidence: dict[str, Any]
) -> tuple[Step, ...]:
    """The catalogue's action is the fix (it names the setting and its command)."""
    return (
        Step(f"Fix the cause: {evidence.get('reason') or evidence.get('code')}"),
        _restart(integration),
        _validate(integration),
    )


def _consent(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step(
            "Grant admin consent again: this re-creates the enterprise application with "
            "the permissions idsync needs. Only a tenant administrator can.",
            url=evidence.get("consent_url"),
            by="tenant administrator",
        ),
        _restart(integration),
        _validate(integration),
    )


def _consent_with_callback(
    integration: IntegrationRecord, evidence: dict[str, Any]
) -> tuple[Step, ...]:
    """The consent link comes back to ``idsync serve``, which checks the application,
    clears the quarantine and runs an incremental cycle: no second step. Without the
    server's public URL, the plain link and the restart, as for revoked consent."""
    link = evidence.get("callback_consent_url")
    if not link:
        grant, restart, validate = _consent(integration, evidence)
        unwired = (
            " The link does not come back to idsync (no public URL known: idsync serve "
            "--public-url URL, or IDSYNC_PUBLIC_URL), so restart the job afterwards."
        )
        return (Step(grant.text + unwired, url=grant.url, by=grant.by), restart, validate)
    return (
        Step(
            "Grant admin consent again: this re-creates the enterprise application with "
            "the permissions idsync needs. Only a tenant administrator can. The link comes "
            "back to idsync, which then clears the quarantine and runs an incremental cycle "
            "by itself. The link expires after an hour; a new one: idsync repair ID",
            url=str(link),
            by="tenant administrator",
        ),
        Step(
            "Watch the repair finish (or print a fresh link).",
            command=f"idsync repair {_quoted(integration)}",
        ),
        _validate(integration),
    )


def _new_secret(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step(
            "Create a new client secret for the app registration "
            f"{evidence.get('client_id') or ''} in the Entra admin center.",
            by="tenant administrator",
        ),
        Step(
            "Store it (the file holds the secret alone).",
            command=f"idsync integration update {_quoted(integration)} --client-secret-file FILE",
        ),
        _restart(integration),
        _validate(integration),
    )


def _new_certificate(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step(
            "Upload a new certificate to the app registration "
            f"{evidence.get('client_id') or ''}: Entra admin center, App registrations, "
            "Certificates & secrets, Certificates, Upload certificate.",
            by="tenant administrator",
        ),
        Step(
            "Give idsync its private key (a PEM file) and the thumbprint the portal shows.",
            command=f"idsync integration update {_quoted(integration)} "
            "--certificate-key FILE --certificate-thumbprint THUMBPRINT",
        ),
        _restart(integration),
        _validate(integration),
    )


def _failing_objects(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step(
            "Look at the failed objects and their reasons.",
            command=f"idsync sync logs {_quoted(integration)} --result failure",
        ),
        Step(
            "Fix the cause the reasons name (the source's values, the attribute mappings, "
            "or the other side's objects)."
        ),
        _restart(integration),
        _validate(integration),
    )


def _clashes(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step(
            "Look at the clashing objects: each failure names the object already there.",
            command=f"idsync sync logs {_quoted(integration)} --result failure",
        ),
        Step(
            "If they are the same people or groups (the integration matches them by its "
            "matching attribute), let it take them over; otherwise remove or rename the "
            "ones already there.",
            command=f"idsync integration update {_quoted(integration)} --adopt-existing",
        ),
        _restart(integration),
        _validate(integration),
    )


def _grant(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    needs = evidence.get("needs") or "the permissions the connector lists"
    return (
        Step(f"Grant the application {needs} and admin consent.", by="tenant administrator"),
        _restart(integration),
        _validate(integration),
    )


def _check_ids(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step("Compare the tenant and client id with the app registration's overview page."),
        Step(
            "Correct them.",
            command=f"idsync integration update {_quoted(integration)} --tenant-id ID",
        ),
        _restart(integration),
        _validate(integration),
    )


def _ldap_bind(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    data = evidence.get("ad_data")
    what = {
        "52e": "the password is wrong (or, on Samba, the account unknown)",
        "525": "the account does not exist",
        "530": "the account may not sign in at this time",
        "531": "the account may not sign in from this computer",
        "532": "the password has expired",
        "533": "the account is disabled",
        "701": "the account has expired",
        "773": "the password must be changed",
        "775": "the account is locked out",
    }.get(str(data), "the directory refused the bind")
    return (
        Step(f"Fix the bind account: {what}.", by="administrator"),
        Step(
            "Store its password if it changed.",
            command=f"idsync integration update {_quoted(integration)} --password-file FILE",
        ),
        _restart(integration),
        _validate(integration),
    )


def _approve(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step(
            "Look at what would be removed.",
            command=f"idsync sync logs {_quoted(integration)} --action stagedDelete",
        ),
        Step(
            "If the removals are right, apply them.",
            command=f"idsync sync approve-deletes {_quoted(integration)}",
        ),
        _validate(integration),
    )


def _wait(integration: IntegrationRecord, evidence: dict[str, Any]) -> tuple[Step, ...]:
    return (
        Step("Nothing to do: the next cycle resumes from its checkpoint.", by="idsync"),
        Step("Watch it.", command=f"idsync sync status {_quoted(integration)}"),
    )


_UNKNOWN_TENANT = {"AADSTS90002", "AADSTS900023"}
_DONE_IN_THE_TENANT = frozenset(AUDIT_ACTIVITIES)
"""Causes an administrator's action in the tenant explains: the directory audit log
names who and when."""

_SECRET_EXPIRED = _Cause(
    "client_secret_expired", "{name}: the client secret has expired ({aadsts})", "high", _new_secret
)
_CERTIFICATE_EXPIRED = _Cause(
    "certificate_expired",
    "{name}: the certificate idsync signs in with has expired ({aadsts})",
    "high",
    _new_certificate,
)
_TENANT_NOT_FOUND = _Cause(
    "tenant_not_found", "{name}: Entra ID does not know the tenant ({aadsts})", "high", _check_ids
)
_APP_DISABLED = _Cause(
    "application_disabled",
    "{name}: the application is disabled in the tenant ({aadsts})",
    "high",
    lambda integration, evidence: (
        Step(
            "Enable the enterprise application: Entra admin center, Enterprise applications, "
            "the application, Properties, 'Enabled for users to sign in?': Yes.",
            by="tenant administrator",
        ),
        _restart(integration),
        _validate(integration),
    ),
)

_CONSENT_REVOKED = _Cause(
    "consent_revoked",
    "{name}: admin consent was revoked (the token carries no permission)",
    "high",
    _consent,
)

_CLASHES = _Cause(
    "uniqueness_conflicts",
    "{name}: objects clash with objects already there (the same userName, externalId or "
    "displayName)",
    "high",
    _clashes,
)
_OBJECTS_FAILING: dict[str, _Cause] = {
    catalogue.UNIQUENESS.code: _CLASHES,
    catalogue.SCIM_APP_CONFLICT.code: _CLASHES,
    catalogue.OWNED_ELSEWHERE.code: _CLASHES,
    catalogue.SCIM_APP_REJECTED.code: _Cause(
        "target_rejects_values",
        "{name}: the application refuses the values idsync writes",
        "high",
        _failing_objects,
    ),
}
"""Too many objects failed (IDS-409-012): the cause is what most of them failed with."""

_BY_CODE: dict[str, _Cause] = {
    catalogue.FAILURE_RATE.code: _Cause(
        "objects_failing",
        "{name}: too many objects failed in the last cycle",
        "medium",
        _failing_objects,
    ),
    catalogue.ENTRA_SERVICE_PRINCIPAL_MISSING.code: _Cause(
        "service_principal_removed",
        "{name}: the enterprise application was deleted from the tenant ({aadsts})",
        "high",
        _consent_with_callback,
    ),
    catalogue.ENTRA_INVALID_SECRET.code: _Cause(
        "client_secret_invalid",
        "{name}: Entra ID rejects the client secret ({aadsts})",
        "high",
        _new_secret,
    ),
    catalogue.ENTRA_CERTIFICATE_REJECTED.code: _Cause(
        "certificate_rejected",
        "{name}: Entra ID rejects the certificate idsync signs in with ({aadsts})",
        "high",
        _new_certificate,
    ),
    catalogue.ENTRA_UNKNOWN_APPLICATION.code: _Cause(
        "application_not_found",
        "{name}: Entra ID does not know the application",
        "high",
        _check_ids,
    ),
    catalogue.SOURCE_FORBIDDEN.code: _Cause(
        "permission_missing", "{name}: a permission idsync needs is not granted", "high", _grant
    ),
    catalogue.SOURCE_UNAUTHORIZED.code: _Cause(
        "credentials_rejected",
        "{name}: the directory refuses idsync's credentials",
        "medium",
        _as_the_error_says,
    ),
    catalogue.LDAP_BIND_REFUSED.code: _Cause(
        "ldap_bind_failed", "{name}: the directory refuses the bind account", "high", _ldap_bind
    ),
    catalogue.DELETION_THRESHOLD.code: _Cause(
        "deletion_threshold_exceeded",
        "{name}: more removals than the deletion threshold wait for approval",
        "high",
        _approve,
    ),
    catalogue.SOURCE_SHRANK.code: _Cause(
        "source_shrank",
        "{name}: the source returned far fewer objects than before",
        "medium",
        _approve,
    ),
    catalogue.SOURCE_THROTTLED.code: _Cause(
        "throttled", "{name}: the directory keeps throttling idsync", "high", _wait
    ),
    catalogue.SOURCE_UNAVAILABLE.code: _Cause(
        "source_unreachable", "{name}: the directory cannot be reached", "medium", _wait
    ),
    catalogue.LDAP_ACCESS_DENIED.code: _Cause(
        "ldap_access_denied",
        "{name}: the bind account may not read what idsync needs",
        "high",
        _as_the_error_says,
    ),
    catalogue.LDAP_BASE_MISSING.code: _Cause(
        "ldap_base_missing",
        "{name}: a base DN idsync reads no longer exists",
        "high",
        _as_the_error_says,
    ),
    catalogue.LDAP_TLS_FAILED.code: _Cause(
        "ldap_tls_failed",
        "{name}: the directory's TLS certificate is not trusted",
        "high",
        _as_the_error_says,
    ),
    catalogue.LDAP_TLS_HOST_MISMATCH.code: _Cause(
        "ldap_tls_host_mismatch",
        "{name}: the directory's certificate is for another host name",
        "high",
        _as_the_error_says,
    ),
    catalogue.LDAP_DELETED_OBJECTS_UNREADABLE.code: _Cause(
        "deletions_not_visible",
        "{name}: the bind account cannot see deletions (Deleted Objects)",
        "high",
        _as_the_error_says,
    ),
    catalogue.SCIM_APP_UNAUTHORIZED.code: _Cause(
        "target_unauthorized",
        "{name}: the application refuses idsync's token",
        "high",
        _as_the_error_says,
    ),
    catalogue.SCIM_APP_FORBIDDEN.code: _Cause(
        "target_forbidden",
        "{name}: the application forbids what idsync writes",
        "high",
        _as_the_error_says,
    ),
    catalogue.SCIM_APP_THROTTLED.code: _Cause(
        "target_throttled", "{name}: the application keeps throttling idsync", "high", _wait
    ),
    catalogue.SCIM_APP_UNAVAILABLE.code: _Cause(
        "target_unreachable", "{name}: the application cannot be reached", "medium", _wait
    ),
}
