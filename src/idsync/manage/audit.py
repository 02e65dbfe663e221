"""The audit log as an administrator reads it."""

from __future__ import annotations

from datetime import datetime

from idsync.store import audit
from idsync.store.audit import AuditRecord
from idsync.store.database import Database


def list_events(
    db: Database,
    *,
    org_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    category: str | None = None,
    activity: str | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Events, newest first, filtered as given."""
    with db.read() as conn:
        return audit.query(
            conn,
            org_id=org_id,
            since=since,
            until=until,
            category=category,
            activity=activity,
            limit=limit,
        )
