"""Integrations as an administrator manages them: add, change, remove, run, approve."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from idsync.config import Settings
from idsync.connectors import registry
from idsync.connectors.base import Source, Target
from idsync.health.catalogue import (
    DELETION_THRESHOLD,
    INTEGRATION_NOT_FOUND,
    INVALID_INTEGRATION,
    SOURCE_SHRANK,
    IdsyncError,
)
from idsync.store import audit, orgs
from idsync.store import integrations as store
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.store.types import utcnow
from idsync.sync.engine import Cycle, ProgressCallback, apply_removals
from idsync.sync.mapping import AttributeMapping, profile
from idsync.sync.records import OBJECT_TYPES, ObjectType
from idsync.sync.report import CycleReport, Tally
from idsync.sync.scoping import Scope
from idsync.sync.secrets import SecretBox
from idsync.sync.status import JobStatus

DEFAULT_INTERVAL_SECONDS = 40 * 60
"""Entra's provisioning service runs about every 40 minutes; idsync keeps that default."""
DEFAULT_DELETION_THRESHOLD = 500
"""Entra's accidental-deletions prevention threshold defaults to 500."""


@dataclass(frozen=True)
class IntegrationOptions:
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    auto_sync: bool = True
    deletion_threshold: int = DEFAULT_DELETION_THRESHOLD
    adopt_existing: bool = False
    matching_attribute: str = "userName"
    mappings: Mapping[str, Any] | None = None
    scoping: Mapping[str, Any] | None = None


def _audit(
    conn: Any,
    integration: IntegrationRecord | None,
    org_id: str,
    activity: str,
    actor: str,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record(
        conn,
        org_id=org_id,
        category="IntegrationManagement",
        activity=activity,
        result="success",
        actor=actor,
        target=integration.id if integration else None,
        details=details or {},
    )


def add_integration(
    db: Database,
    config: Settings,
    *,
    org_id: str,
    kind: str,
    name: str,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    options: IntegrationOptions,
    actor: str,
    direction: str = "source",
) -> IntegrationRecord:
    with db.read() as conn:
        orgs.require_org(conn, org_id)
    registry.validate(kind, direction, name, settings, secrets)  # before anything is stored
    _validate_rules(profile(kind, direction), options)
    values = {
        "org_id": org_id,
        "kind": kind,
        "direction": direction,
        "name": name,
        "settings": settings,
        "secrets": SecretBox(db, config).seal(secrets) if secrets else None,
        "matching_attribute": options.matching_attribute,
        "mappings": dict(options.mappings or {}),
        "scoping": dict(options.scoping or {}),
        "interval_seconds": options.interval_seconds,
        "auto_sync": options.auto_sync,
        "deletion_threshold": options.deletion_threshold,
        "adopt_existing": options.adopt_existing,
    }
    configured = bool(secrets) or kind not in registry.NEEDS_SECRETS
    status = JobStatus.NOT_RUN if configured else JobStatus.NOT_CONFIGURED
    with db.write() as conn:
        if store.find_integration(conn, name, org_id) is not None:
            raise IdsyncError(
                INVALID_INTEGRATION,
                reason=f"the organisation already has an integration named {name!r}",
                hint="Choose another --name.",
            )
        integration_id = store.insert_integration(conn, values, status)
        record = store.find_integration(conn, integration_id)
        assert record is not None
        _audit(conn, record, org_id, "Add integration", actor, {"kind": kind, "name": name})
    return record


MATCHING_ATTRIBUTES = ("userName", "externalId")


def _validate_rules(kind: str, options: IntegrationOptions) -> None:
    if options.matching_attribute not in MATCHING_ATTRIBUTES:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"matching attribute {options.matching_attribute!r} is not supported",
            hint="Use userName (displayName for groups, as Entra does) or externalId.",
        )
    try:
        for object_type in OBJECT_TYPES:
            AttributeMapping.for_integration(
                kind, object_type, (options.mappings or {}).get(object_type, ())
            )
            Scope.parse((options.scoping or {}).get(object_type, ()))
    except (ValueError, KeyError, TypeError) as exc:
        raise IdsyncError(
            INVALID_INTEGRATION, reason=str(exc), hint="See docs/sync.md for mappings and scoping."
        ) from None


def get_integration(db: Database, ref: str, org_id: str | None = None) -> IntegrationRecord:
    with db.read() as conn:
        record = store.find_integration(conn, ref, org_id)
    if record is None:
        raise IdsyncError(INTEGRATION_NOT_FOUND, integration=ref)
    return record


def list_integrations(
    db: Database, org_id: str | None = None
) -> list[tuple[IntegrationRecord, JobRecord]]:
    with db.read() as conn:
        return [(i, store.get_job(conn, i.id)) for i in store.list_integrations(conn, org_id)]


def get_job(db: Database, integration_id: str) -> JobRecord:
    with db.read() as conn:
        return store.get_job(conn, integration_id)


def update_integration(
    db: Database,
    config: Settings,
    ref: str,
    *,
    actor: str,
    secrets: dict[str, Any] | None = None,
    **values: Any,
) -> IntegrationRecord:
    record = get_integration(db, ref)
    changes = {k: v for k, v in values.items() if v is not None}
    if secrets:
        merged_settings = {**record.settings, **changes.get("settings", {})}
        registry.validate(record.kind, record.direction, record.name, merged_settings, secrets)
        changes["secrets"] = SecretBox(db, config).seal(secrets)
    with db.write() as conn:
        store.update_integration(conn, record.id, changes)
        if secrets and store.get_job(conn, record.id).status == JobStatus.NOT_CONFIGURED:
            store.update_job(conn, record.id, status=JobStatus.NOT_RUN)
        _audit(
            conn,
            record,
            record.org_id,
            "Update integration",
            actor,
            {
                "changed": sorted(k for k in changes if k != "secrets")
                + (["credentials"] if secrets else [])
            },
        )
    return get_integration(db, record.id)


def remove_integration(db: Database, ref: str, *, actor: str) -> IntegrationRecord:
    record = get_integration(db, ref)
    with db.write() as conn:
        store.delete_integration(conn, record.id)
        _audit(conn, record, record.org_id, "Remove integration", actor, {"name": record.name})
    return record


def run_cycle(
    db: Database,
    config: Settings,
    ref: str,
    *,
    full: bool = False,
    preview: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CycleReport:
    record = get_integration(db, ref)
    with _connected(db, config, record) as (source, target):
        cycle = Cycle(
            db,
            record,
            source,
            target,
            full=full,
            preview=preview,
            progress=progress,
            log_days=config.provisioning_log_days,
            should_stop=should_stop,
        )
        return cycle.run()


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
        cycle_id = Cycle(db, record, source, target).run_one(object_type, source_id)
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
    values: dict[str, Any] = {"next_run_at": utcnow()}
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
        _audit(conn, record, record.org_id, "Restart sync job", actor, {"reset": sorted(resets)})
    return get_job(db, record.id)


def set_paused(db: Database, ref: str, paused: bool, *, actor: str) -> JobRecord:
    record = get_integration(db, ref)
    with db.write() as conn:
        job = store.get_job(conn, record.id)
        resumed = JobStatus.ACTIVE if job.last_cycle_id else JobStatus.NOT_RUN
        store.update_job(
            conn,
            record.id,
            status=JobStatus.PAUSED if paused else resumed,
            reason_code=None,
            reason="paused by an administrator" if paused else None,
        )
        _audit(
            conn, record, record.org_id, "Pause sync job" if paused else "Resume sync job", actor
        )
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
            )
        _audit(conn, record, record.org_id, "Approve staged deletions", actor, dict(tally.counts))
    return dict(tally.counts)
