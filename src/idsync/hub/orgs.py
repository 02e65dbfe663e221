"""What the hub's SCIM operations read of an organisation's settings (managing
organisations is idsync.manage.orgs)."""

from __future__ import annotations

from idsync.store import orgs
from idsync.store.database import Database


def creates_unmatched(db: Database, org_id: str, *, entra_request: bool) -> bool:
    """Whether this organisation lets a request's unmatched value filter create the value."""
    with db.read() as conn:
        setting = orgs.require_org(conn, org_id).patch_upsert
    return setting == "all" or (setting == "entra" and entra_request)
