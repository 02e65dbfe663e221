"""Integrations and their sync jobs: rows and the statements that change them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.store.models import INTEGRATIONS, ORGS, SYNC_JOBS
from idsync.store.orgs import name_key
from idsync.store.types import utcnow

_integrations = INTEGRATIONS
_jobs = SYNC_JOBS


@dataclass(frozen=True)
class IntegrationRecord:
    id: str
    org_id: str
    kind: str
    direction: str
    name: str
    settings: dict[str, Any]
    secrets: str | None = field(repr=False)
    matching_attribute: str
    mappings: dict[str, Any]
    scoping: dict[str, Any]
    interval_seconds: int
    auto_sync: bool
    deletion_threshold: int
    adopt_existing: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class JobRecord:
    integration_id: str
    org_id: str
    status: str
    reason_code: str | None
    reason: str | None
    watermark: dict[str, Any]
    checkpoint: dict[str, Any] | None
    successive_failures: int
    quarantined_at: datetime | None
    next_run_at: datetime | None
    running_since: datetime | None
    running_by: str | None
    last_cycle_id: str | None
    last_cycle_at: datetime | None
    counts: dict[str, Any]
    updated_at: datetime
    removals: dict[str, Any] | None = None
    tracking_id: str | None = None
    """Of the work that last changed the status."""
    evidence: dict[str, Any] | None = None
    """What the other side said when the job last failed."""


def _integration(row: Any) -> IntegrationRecord:
    return IntegrationRecord(**{f: getattr(row, f) for f in IntegrationRecord.__dataclass_fields__})


def _job(row: Any) -> JobRecord:
    return JobRecord(**{f: getattr(row, f) for f in JobRecord.__dataclass_fields__})


def insert_integration(
    conn: Connection, values: dict[str, Any], job_status: str, *, due: bool = True
) -> str:
    """The new integration's id. ``due``: its first cycle runs on schedule at once;
    otherwise not before someone runs it (after which it runs on schedule)."""
    integration_id = str(uuid.uuid4())
    now = utcnow()
    conn.execute(
        _integrations.insert().values(
            id=integration_id,
            name_key=name_key(values["name"]),
            created_at=now,
            updated_at=now,
            **values,
        )
    )
    conn.execute(
        _jobs.insert().values(
            integration_id=integration_id,
            org_id=values["org_id"],
            status=job_status,
            watermark={},
            counts={},
            successive_failures=0,
            next_run_at=now if due else None,
            updated_at=now,
        )
    )
    return integration_id


def update_integration(conn: Connection, integration_id: str, values: dict[str, Any]) -> None:
    if "name" in values:
        values = {**values, "name_key": name_key(values["name"])}
    conn.execute(
        _integrations.update()
        .where(_integrations.c.id == integration_id)
        .values(updated_at=utcnow(), **values)
    )


def find_integration(
    conn: Connection, ref: str, org_id: str | None = None
) -> IntegrationRecord | None:
    """By id, or by name (within one org when given; a name shared by orgs needs the id)."""
    t = _integrations
    by_id = conn.execute(sa.select(t).where(t.c.id == ref)).first()
    if by_id is not None and (org_id is None or by_id.org_id == org_id):
        return _integration(by_id)
    query = sa.select(t).where(t.c.name_key == name_key(ref))
    if org_id is not None:
        query = query.where(t.c.org_id == org_id)
    rows = conn.execute(query.limit(2)).all()
    return _integration(rows[0]) if len(rows) == 1 else None


def list_integrations(conn: Connection, org_id: str | None = None) -> list[IntegrationRecord]:
    t = _integrations
    query = sa.select(t).order_by(t.c.org_id, t.c.name_key)
    if org_id is not None:
        query = query.where(t.c.org_id == org_id)
    return [_integration(row) for row in conn.execute(query)]


def delete_integration(conn: Connection, integration_id: str) -> None:
    """Remove it; the objects it provisioned stay in the hub, owned by no integration."""
    from idsync.store.models import GROUPS, MEMBERSHIPS, USERS

    for table in (USERS, GROUPS, MEMBERSHIPS):
        conn.execute(
            table.update()
            .where(table.c.owner_integration_id == integration_id)
            .values(owner_integration_id=None)
        )
    conn.execute(_integrations.delete().where(_integrations.c.id == integration_id))


# --- jobs -------------------------------------------------------------------------------------


def get_job(conn: Connection, integration_id: str) -> JobRecord:
    row = conn.execute(sa.select(_jobs).where(_jobs.c.integration_id == integration_id)).one()
    return _job(row)


def update_job(conn: Connection, integration_id: str, **values: Any) -> None:
    conn.execute(
        _jobs.update()
        .where(_jobs.c.integration_id == integration_id)
        .values(updated_at=utcnow(), **values)
    )


def claim_job(conn: Connection, integration_id: str, owner: str, stale_before: datetime) -> bool:
    """Mark the job running unless another cycle runs it (one running cycle per job).

    A claim older than ``stale_before`` belongs to a process that died: it is taken over,
    and its cycle resumes from the checkpoint it left.
    """
    now = utcnow()
    claimed = conn.execute(
        _jobs.update()
        .where(
            _jobs.c.integration_id == integration_id,
            sa.or_(_jobs.c.running_since.is_(None), _jobs.c.running_since < stale_before),
        )
        .values(running_since=now, running_by=owner, updated_at=now)
    )
    return claimed.rowcount == 1


def take_over_job(conn: Connection, integration_id: str, dead_owner: str, owner: str) -> bool:
    """Claim a job from a process known to be dead (only if that claim is still its)."""
    taken = conn.execute(
        _jobs.update()
        .where(_jobs.c.integration_id == integration_id, _jobs.c.running_by == dead_owner)
        .values(running_since=utcnow(), running_by=owner)
    )
    return taken.rowcount == 1


def heartbeat(conn: Connection, integration_id: str, owner: str) -> None:
    conn.execute(
        _jobs.update()
        .where(_jobs.c.integration_id == integration_id, _jobs.c.running_by == owner)
        .values(running_since=utcnow())
    )


def release_job(conn: Connection, integration_id: str, owner: str) -> None:
    conn.execute(
        _jobs.update()
        .where(_jobs.c.integration_id == integration_id, _jobs.c.running_by == owner)
        .values(running_since=None, running_by=None)
    )


def due_jobs(conn: Connection, now: datetime, stale_before: datetime | None = None) -> list[str]:
    """Jobs whose next run has come, that run on their own and are not running (or whose
    claim is older than ``stale_before``: its process died mid-cycle)."""
    idle: sa.ColumnElement[bool] = _jobs.c.running_since.is_(None)
    if stale_before is not None:
        idle = sa.or_(idle, _jobs.c.running_since < stale_before)
    query = (
        sa.select(_jobs.c.integration_id)
        .join(_integrations, _integrations.c.id == _jobs.c.integration_id)
        .join(ORGS, ORGS.c.id == _integrations.c.org_id)
        .where(
            ORGS.c.directory_sync.is_(True),
            _integrations.c.auto_sync.is_(True),
            _jobs.c.status.in_(("NotRun", "Active", "Quarantine")),
            _jobs.c.next_run_at <= now,
            idle,
        )
        .order_by(_jobs.c.next_run_at)
    )
    return list(conn.execute(query).scalars())
