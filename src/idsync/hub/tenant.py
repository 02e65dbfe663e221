"""The hub and the tenant a request acts for."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from idsync.config import Settings
from idsync.scim.patch import PatchWork
from idsync.scim.provider import CustomSchema, ServiceDescription, default_description, describe
from idsync.store import orgs
from idsync.store.database import Database


@dataclass(frozen=True)
class Tenant:
    """One organisation, as one request sees it."""

    org_id: str
    description: ServiceDescription
    base_url: str
    """``https://host/scim/{org_id}/v2``: what ``meta.location`` and ``$ref`` start with."""
    minimal_group_patch: bool = False
    """Answer group PATCH with 204 (the org chose it: ``idsync org set --group-patch-response``)."""
    actor: str = "system"
    """Who acts, for the audit log: ``token:<id>``, ``cli``, ``sync:<integration>``."""
    tracking_id: str | None = None
    warnings: list[str] = field(default_factory=list, compare=False)
    """Things the request asked for that were not done, reported back (``Warning`` header)."""
    work: PatchWork = field(default_factory=PatchWork, compare=False)
    """What the request's PATCH operations cost, for its log line (a Bulk adds its own up)."""


class Hub:
    """The database plus the per-organisation schema descriptions built from it."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._descriptions: dict[tuple[str, int], ServiceDescription] = {}
        self._lock = threading.Lock()

    def description(self, org_id: str, revision: int) -> ServiceDescription:
        """The schemas of an organisation at a schema revision (built once, then cached)."""
        if revision == 0:
            return default_description()
        key = (org_id, revision)
        cached = self._descriptions.get(key)
        if cached is not None:
            return cached
        with self.db.read() as conn:
            records = orgs.list_schemas(conn, org_id)
        built = describe([CustomSchema(r.resource_type, r.required, r.definition) for r in records])
        with self._lock:
            # Older revisions of this org are never asked for again.
            for stale in [k for k in self._descriptions if k[0] == org_id]:
                del self._descriptions[stale]
            self._descriptions[key] = built
        return built
