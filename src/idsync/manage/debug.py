"""Debug info: what support needs about one failure, found by its tracking ID, redacted.

Like the incident console's "Copy Debug Info": the tracking ID, org, integration, job
status, time (UTC), the operation, its status and status text, the error, the
finding, the versions. Every string passes the integration's scrubber (its own
secrets, then every pattern of errors/scrub.py) and secret-named fields are dropped
whole, so the bundle can be pasted into a ticket.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sqlalchemy as sa

from idsync.config import Settings
from idsync.errors.catalogue import CATALOGUE, TRACKING_ID_NOT_FOUND, IdsyncError
from idsync.errors.scrub import REDACTED, SCRUB, Scrubber, is_secret_field
from idsync.health import findings
from idsync.health.inbound import inbound_findings
from idsync.scim.values import format_datetime
from idsync.store import findings as finding_rows
from idsync.store import integrations as store
from idsync.store import orgs, tokens
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord
from idsync.store.models import AUDIT_EVENTS, PROVISIONING_LOG, SYNC_CYCLES, SYNC_JOBS
from idsync.sync.secrets import SecretBox


def debug_info(db: Database, config: Settings, tracking_id: str) -> dict[str, Any]:
    """The redacted bundle for one tracking ID (raises TRACKING_ID_NOT_FOUND)."""
    found = _find(db, tracking_id)
    if found is None:
        refused = _refused_request(db, tracking_id)
        if refused is None:
            raise IdsyncError(TRACKING_ID_NOT_FOUND, tracking_id=tracking_id)
        scrubbed: dict[str, Any] = _redacted(refused, SCRUB)
        return scrubbed
    integration_id, operation = found
    with db.read() as conn:
        record = store.find_integration(conn, integration_id)
        assert record is not None  # the row that named it references it
        job = store.get_job(conn, integration_id)
        org = orgs.get_org(conn, record.org_id)
        stored = finding_rows.find_by_tracking_id(conn, tracking_id)
    code = operation.get("error_code") or (
        job.reason_code if job.tracking_id == tracking_id else None
    )
    entry = CATALOGUE.get(code or "")
    bundle = {
        "tracking_id": tracking_id,
        "time": operation.get("time"),
        "org": {"id": record.org_id, "name": org.name if org else None},
        "integration": {
            "id": record.id,
            "name": record.name,
            "kind": record.kind,
            "direction": record.direction,
        },
        "job": {
            "status": job.status,
            "reason_code": job.reason_code,
            "reason": job.reason,
            "successive_failures": job.successive_failures,
            "quarantined_at": _when(job.quarantined_at),
            "evidence": job.evidence if job.tracking_id == tracking_id else None,
        },
        "operation": operation,
        "status": code,
        "status_text": entry.title if entry else None,
        "finding": findings.from_record(stored, record.name).to_json() if stored else None,
        "versions": _versions(db),
    }
    redacted: dict[str, Any] = _redacted(bundle, Scrubber(_secrets(db, config, record)))
    return redacted


def _refused_request(db: Database, tracking_id: str) -> dict[str, Any] | None:
    """The bundle of a request the hub refused (a revoked or expired token: the
    tracking ID its client was told), with the hub-side finding it is part of."""
    with db.read() as conn:
        row = conn.execute(
            sa.select(AUDIT_EVENTS).where(
                AUDIT_EVENTS.c.tracking_id == tracking_id,
                AUDIT_EVENTS.c.activity == "Reject token",
            )
        ).first()
        token = tokens.get_token(conn, row.target) if row is not None and row.target else None
        org = orgs.get_org(conn, row.org_id) if row is not None and row.org_id else None
    if row is None:
        return None
    code = str(row.details.get("code") or "")
    entry = CATALOGUE.get(code)
    finding = next(
        (f for f in inbound_findings(db, org_id=row.org_id) if token and f.token_id == token.id),
        None,
    )
    return {
        "tracking_id": tracking_id,
        "time": _when(row.occurred_at),
        "org": {"id": row.org_id, "name": org.name if org else None},
        "hub_token": {
            "id": token.id,
            "name": token.name,
            "prefix": token.prefix,
            "revoked_at": _when(token.revoked_at),
            "expires_at": _when(token.expires_at),
        }
        if token
        else None,
        "operation": {
            "kind": "refused request",
            "source": row.details.get("source"),
            "refused_in_window": row._mapping["count"],
            "window_seconds": row.details.get("windowSeconds"),
        },
        "status": code or None,
        "status_text": entry.title if entry else None,
        "finding": finding.to_json() if finding else None,
        "versions": _versions(db),
    }


def _find(db: Database, tracking_id: str) -> tuple[str, dict[str, Any]] | None:
    """(integration id, the operation the ID stands for) from the first table naming it."""
    with db.read() as conn:
        cycle = conn.execute(
            sa.select(SYNC_CYCLES).where(SYNC_CYCLES.c.tracking_id == tracking_id)
        ).first()
        if cycle is not None:
            return cycle.integration_id, _cycle(cycle)
        entry = conn.execute(
            sa.select(PROVISIONING_LOG).where(PROVISIONING_LOG.c.tracking_id == tracking_id)
        ).first()
        if entry is not None:
            return entry.integration_id, _entry(entry)
        stored = finding_rows.find_by_tracking_id(conn, tracking_id)
        if stored is not None:
            return stored.integration_id, {"kind": "finding", "time": _when(stored.created_at)}
        action = conn.execute(
            sa.select(AUDIT_EVENTS).where(
                AUDIT_EVENTS.c.tracking_id == tracking_id,
                AUDIT_EVENTS.c.category == "IntegrationManagement",
                AUDIT_EVENTS.c.target.is_not(None),
            )
        ).first()
        if action is not None:
            return action.target, _action(action)
        job = conn.execute(
            sa.select(SYNC_JOBS).where(SYNC_JOBS.c.tracking_id == tracking_id)
        ).first()
        if job is not None:
            return job.integration_id, {"kind": "job change", "time": _when(job.updated_at)}
    return None


def _cycle(row: Any) -> dict[str, Any]:
    return {
        "kind": "cycle",
        "time": _when(row.finished_at or row.started_at),
        "cycle_id": row.id,
        "mode": row.mode,
        "outcome": row.status,
        "started_at": _when(row.started_at),
        "finished_at": _when(row.finished_at),
        "error_code": row.error_code,
        "error": row.reason,
        "evidence": row.evidence,
        "counts": row.counts,
    }


def _action(row: Any) -> dict[str, Any]:
    """An administrator's action on the job (restart, pause, resume, approve)."""
    return {
        "kind": "administrator action",
        "time": _when(row.occurred_at),
        "activity": row.activity,
        "actor": row.actor,
        "details": row.details,
    }


def _entry(row: Any) -> dict[str, Any]:
    return {
        "kind": "object",
        "time": _when(row.occurred_at),
        "cycle_id": row.cycle_id,
        "object_type": row.object_type,
        "source_id": row.source_id,
        "target_id": row.target_id,
        "action": row.action,
        "result": row.result,
        "step": row.step,
        "error_code": row.error_code,
        "error": row.reason,
        "recommended_action": row.recommended_action,
    }


def _when(value: Any) -> str | None:
    return format_datetime(value) if value is not None else None


def _versions(db: Database) -> dict[str, str]:
    try:
        idsync = version("idsync")
    except PackageNotFoundError:  # run from a source tree
        idsync = "unknown"
    return {
        "idsync": idsync,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "sqlalchemy": sa.__version__,
        "database": db.engine.dialect.name,
    }


def _secrets(db: Database, config: Settings, record: IntegrationRecord) -> list[str]:
    """The integration's own secrets, so they are redacted wherever they occur."""
    try:
        opened = SecretBox(db, config).open(record.secrets, record.name)
    except IdsyncError:  # no key here: the patterns of errors/scrub.py still apply
        return []
    return [str(value) for value in _strings(opened)]


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _redacted(value: Any, scrub: Scrubber) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_field(key) and item is not None else _redacted(item, scrub)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item, scrub) for item in value]
    return scrub(value) if isinstance(value, str) else value
