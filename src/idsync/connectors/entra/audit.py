"""What the directory audit log says about a change to our application: who, when.

Pure functions on Graph's ``directoryAudit`` objects (activityDisplayName,
activityDateTime, category, initiatedBy.user/app, targetResources, additionalDetails),
shared by the consent callback (read with the re-created application's token) and the
administrator's sign-in (read with theirs); the reading itself is ``directory.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

JsonObject = dict[str, Any]

RETENTION = timedelta(days=30)
"""How long Entra ID keeps directory audit events: how far back idsync looks for one."""

AUDIT_ACTIVITIES = {
    "service_principal_removed": "Remove service principal",
    "consent_revoked": "Remove app role assignment from service principal",
    "application_disabled": "Update service principal",
}
"""The causes a person's action in the tenant explains (by finding cause), and the
directory audit activity each is logged as."""


def audit_evidence(events: list[JsonObject], app_id: str, name: str | None = None) -> JsonObject:
    """Who did it and when, from the newest event about this application (its AppId, or
    the enterprise application's name); any newest event when none names it."""
    ours = [
        e
        for e in events
        if _app_id(e) == app_id or (name and any(t.get("displayName") == name for t in _targets(e)))
    ]
    if not (ours or events):
        return {"who": "the directory audit log has no such change to this application"}
    event = (ours or events)[0]
    user = ((event.get("initiatedBy") or {}).get("user")) or {}
    app = ((event.get("initiatedBy") or {}).get("app")) or {}
    return {
        "activity": event.get("activityDisplayName"),
        "actor": user.get("userPrincipalName") or app.get("displayName"),
        "time": event.get("activityDateTime"),
        "category": event.get("category"),
        "audit_id": event.get("id"),
        "who": None,
    }


def _app_id(event: JsonObject) -> str | None:
    details = event.get("additionalDetails") or []
    return next((d.get("value") for d in details if d.get("key") == "AppId"), None)


def _targets(event: JsonObject) -> list[JsonObject]:
    return list(event.get("targetResources") or [])
