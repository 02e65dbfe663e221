"""The audit log: administrative and security events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.store.models import AUDIT_EVENTS
from idsync.store.types import utcnow

_events = AUDIT_EVENTS


@dataclass(frozen=True)
class AuditRecord:
    id: int
    org_id: str | None
    occurred_at: datetime
    category: str
    activity: str
    result: str
    actor: str
    target: str | None
    tracking_id: str | None
    details: dict[str, Any]


def record(
    conn: Connection,
    *,
    org_id: str | None,
    category: str,
    activity: str,
    result: str,
    actor: str,
    target: str | None = None,
    tracking_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        _events.insert().values(
            org_id=org_id,
            occurred_at=utcnow(),
            category=category,
            activity=activity,
            result=result,
            actor=actor,
            target=target,
            tracking_id=tracking_id,
            details=details or {},
        )
    )


def query(
    conn: Connection,
    *,
    org_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    category: str | None = None,
    activity: str | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    stmt = (
        sa.select(_events).order_by(_events.c.occurred_at.desc(), _events.c.id.desc()).limit(limit)
    )
    if org_id is not None:
        stmt = stmt.where(_events.c.org_id == org_id)
    if since is not None:
        stmt = stmt.where(_events.c.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(_events.c.occurred_at < until)
    if category is not None:
        stmt = stmt.where(sa.func.lower(_events.c.category) == category.lower())
    if activity is not None:
        stmt = stmt.where(sa.func.lower(_events.c.activity) == activity.lower())
    return [
        AuditRecord(
            r.id,
            r.org_id,
            r.occurred_at,
            r.category,
            r.activity,
            r.result,
            r.actor,
            r.target,
            r.tracking_id,
            r.details,
        )
        for r in conn.execute(stmt)
    ]
