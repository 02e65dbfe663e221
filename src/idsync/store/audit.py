"""The audit log: administrative and security events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

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
    count: int = 1
    """How many events the row stands for (rejections are counted per source and window)."""


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


def count(
    conn: Connection,
    key: str,
    *,
    org_id: str | None,
    category: str,
    activity: str,
    result: str,
    actor: str,
    target: str | None,
    tracking_id: str | None,
    details: dict[str, Any],
) -> int:
    """Add one event to the row named ``key`` (made by the first one); the row's new count.

    One statement, atomic on both databases (INSERT … ON CONFLICT DO UPDATE … RETURNING),
    so processes counting the same key at once never lose a count.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_events)
        .values(
            org_id=org_id,
            occurred_at=utcnow(),
            category=category,
            activity=activity,
            result=result,
            actor=actor,
            target=target,
            tracking_id=tracking_id,
            details=details,
            count=1,
            aggregate_key=key,
        )
        .on_conflict_do_update(
            index_elements=[_events.c.aggregate_key], set_={"count": _events.c.count + 1}
        )
        .returning(_events.c.count)
    )
    return int(conn.execute(statement).scalar_one())


@dataclass(frozen=True)
class RejectionWindow:
    """One counted row of refusals of a token the hub issued (see hub/rejections.py)."""

    token_id: str
    code: str
    source: str
    started_at: datetime
    count: int
    tracking_id: str | None


def token_rejections(
    conn: Connection, *, org_id: str | None, since: datetime
) -> list[RejectionWindow]:
    """The counted refusals of known (revoked or expired) tokens since ``since``, oldest
    first. Bounded by the audit log's retention: one row per window, source and token."""
    stmt = (
        sa.select(_events)
        .where(
            _events.c.activity == "Reject token",
            _events.c.target.is_not(None),
            _events.c.occurred_at >= since,
        )
        .order_by(_events.c.occurred_at, _events.c.id)
    )
    if org_id is not None:
        stmt = stmt.where(_events.c.org_id == org_id)
    return [
        RejectionWindow(
            r.target,
            str(r.details.get("code", "")),
            str(r.details.get("source", "")),
            r.occurred_at,
            r._mapping["count"],
            r.tracking_id,
        )
        for r in conn.execute(stmt)
    ]


def prune(conn: Connection, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` of the oldest events before ``before``; how many went.

    A range scan of the ``occurred_at`` index: it reads only the rows it deletes, so
    callers can prune a little on every write without a full scan.
    """
    doomed = (
        sa.select(_events.c.id)
        .where(_events.c.occurred_at < before)
        .order_by(_events.c.occurred_at)
        .limit(limit)
    )
    return int(conn.execute(_events.delete().where(_events.c.id.in_(doomed))).rowcount or 0)


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
            r._mapping["count"],  # ``r.count`` is the tuple method
        )
        for r in conn.execute(stmt)
    ]


def counted(conn: Connection, key: str) -> int:
    """How many events the row named ``key`` stands for (0 before the first)."""
    value = conn.execute(
        sa.select(_events.c.count).where(_events.c.aggregate_key == key)
    ).scalar_one_or_none()
    return int(value or 0)
