"""Findings as stored: one row per diagnosis of a failing integration (see idsync.health)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.store.models import FINDINGS
from idsync.store.types import utcnow


@dataclass(frozen=True)
class FindingRecord:
    id: str
    org_id: str
    integration_id: str
    tracking_id: str
    cause: str
    summary: str
    confidence: str
    evidence: dict[str, Any]
    protected: dict[str, Any]
    repair: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


def _record(row: Any) -> FindingRecord:
    return FindingRecord(**row._mapping)


def open_finding(conn: Connection, integration_id: str) -> FindingRecord | None:
    """The integration's newest finding still open."""
    row = conn.execute(
        sa.select(FINDINGS)
        .where(FINDINGS.c.integration_id == integration_id, FINDINGS.c.status == "open")
        .order_by(FINDINGS.c.created_at.desc())
        .limit(1)
    ).first()
    return _record(row) if row else None


def save_finding(conn: Connection, values: dict[str, Any]) -> FindingRecord:
    """Replace the integration's open finding for the same cause, or add one."""
    now = utcnow()
    current = open_finding(conn, values["integration_id"])
    if current is not None and current.cause == values["cause"]:
        conn.execute(
            FINDINGS.update()
            .where(FINDINGS.c.id == current.id)
            .values(**{k: v for k, v in values.items() if k != "tracking_id"}, updated_at=now)
        )
        finding_id = current.id
    else:
        if current is not None:
            resolve_findings(conn, values["integration_id"])
        finding_id = str(uuid.uuid4())
        conn.execute(
            FINDINGS.insert().values(
                id=finding_id, status="open", created_at=now, updated_at=now, **values
            )
        )
    row = conn.execute(sa.select(FINDINGS).where(FINDINGS.c.id == finding_id)).one()
    return _record(row)


def resolve_findings(conn: Connection, integration_id: str) -> int:
    """Close the integration's open findings (it is healthy again)."""
    now = utcnow()
    result = conn.execute(
        FINDINGS.update()
        .where(FINDINGS.c.integration_id == integration_id, FINDINGS.c.status == "open")
        .values(status="resolved", resolved_at=now, updated_at=now)
    )
    return int(result.rowcount or 0)


def list_findings(
    conn: Connection, integration_id: str, *, include_resolved: bool = False, limit: int = 20
) -> list[FindingRecord]:
    query = sa.select(FINDINGS).where(FINDINGS.c.integration_id == integration_id)
    if not include_resolved:
        query = query.where(FINDINGS.c.status == "open")
    rows = conn.execute(query.order_by(FINDINGS.c.created_at.desc()).limit(limit))
    return [_record(row) for row in rows]


def find_by_tracking_id(conn: Connection, tracking_id: str) -> FindingRecord | None:
    row = conn.execute(
        sa.select(FINDINGS).where(FINDINGS.c.tracking_id == tracking_id).limit(1)
    ).first()
    return _record(row) if row else None


def add_evidence(
    conn: Connection, integration_id: str, cause: str, evidence: dict[str, Any]
) -> FindingRecord | None:
    """Add to the evidence of the integration's open finding of this cause (the repair
    learnt who did it); None when there is no such finding."""
    current = open_finding(conn, integration_id)
    if current is None or current.cause != cause:
        return None
    conn.execute(
        FINDINGS.update()
        .where(FINDINGS.c.id == current.id)
        .values(evidence={**current.evidence, **evidence}, updated_at=utcnow())
    )
    return open_finding(conn, integration_id)
