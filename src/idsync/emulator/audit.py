"""The directory audit log, in Graph's ``directoryAudit`` shape.

https://learn.microsoft.com/graph/api/resources/directoryaudit: one event per directory
write, read newest first by ``GET /auditLogs/directoryAudits`` (``graph.py``; the
``$filter`` grammar is in ``filters.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idsync.emulator.directory import Application, ServicePrincipal

Event = dict[str, Any]
Modified = Sequence[tuple[str, Any, Any]]


def now_iso(seconds: bool = False) -> str:
    """UTC now as Graph writes it (7 fractional digits in audit events, none on objects)."""
    now = datetime.now(UTC)
    if seconds:
        return now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a signed-in admin user, or an application (with its SP)."""

    kind: str  # "user" or "app"
    id: str  # user object id, or service principal id
    display_name: str
    user_principal_name: str | None = None
    app_id: str | None = None
    ip_address: str = "127.0.0.1"
    correlation: str = field(default_factory=lambda: str(uuid.uuid4()))

    def initiated_by(self) -> dict[str, Any]:
        if self.kind == "user":
            return {
                "app": None,
                "user": {
                    "id": self.id,
                    "displayName": self.display_name,
                    "userPrincipalName": self.user_principal_name,
                    "ipAddress": self.ip_address,
                    "userType": "Member",
                    "homeTenantId": None,
                    "homeTenantName": None,
                },
            }
        return {
            "user": None,
            "app": {
                "appId": self.app_id,
                "displayName": self.display_name,
                "servicePrincipalId": self.id,
                "servicePrincipalName": self.display_name,
            },
        }


class Target:
    """``targetResource`` builders."""

    @staticmethod
    def _modified(modified: Modified) -> list[dict[str, Any]]:
        # Graph writes old and new values as JSON text.
        import orjson

        def text(value: Any) -> str | None:
            return None if value is None else orjson.dumps([value]).decode()

        return [
            {"displayName": name, "oldValue": text(old), "newValue": text(new)}
            for name, old, new in modified
        ]

    @staticmethod
    def user(state: dict[str, Any], modified: Modified = ()) -> dict[str, Any]:
        return {
            "id": state.get("id"),
            "displayName": None,
            "type": "User",
            "userPrincipalName": state.get("userPrincipalName"),
            "groupType": None,
            "modifiedProperties": Target._modified(modified),
        }

    @staticmethod
    def group(state: dict[str, Any], modified: Modified = ()) -> dict[str, Any]:
        types = state.get("groupTypes") or []
        return {
            "id": state.get("id"),
            "displayName": state.get("displayName"),
            "type": "Group",
            "userPrincipalName": None,
            "groupType": "unifiedGroups" if "Unified" in types else "azureAD",
            "modifiedProperties": Target._modified(modified),
        }

    @staticmethod
    def application(app: Application) -> dict[str, Any]:
        return {
            "id": app.object_id,
            "displayName": app.display_name,
            "type": "Application",
            "userPrincipalName": None,
            "groupType": None,
            "modifiedProperties": [],
        }

    @staticmethod
    def service_principal(sp: ServicePrincipal, modified: Modified = ()) -> dict[str, Any]:
        return {
            "id": sp.id,
            "displayName": sp.display_name,
            "type": "ServicePrincipal",
            "userPrincipalName": None,
            "groupType": None,
            "modifiedProperties": Target._modified(modified),
        }


class AuditLog:
    def __init__(self) -> None:
        self._events: list[Event] = []  # oldest first; read newest first

    def __len__(self) -> int:
        return len(self._events)

    def record(
        self,
        category: str,
        activity: str,
        operation: str,
        actor: Actor,
        targets: list[dict[str, Any]],
        *,
        correlation: str | None = None,
        details: Sequence[tuple[str, str]] = (),
        result: str = "success",
        result_reason: str = "",
    ) -> Event:
        correlation_id = correlation or str(uuid.uuid4())
        event: Event = {
            "id": f"Directory_{correlation_id}_{uuid.uuid4().hex[:5].upper()}_{len(self._events)}",
            "category": category,
            "correlationId": correlation_id,
            "result": result,
            "resultReason": result_reason,
            "activityDisplayName": activity,
            "activityDateTime": now_iso(),
            "loggedByService": "Core Directory",
            "operationType": operation,
            "initiatedBy": actor.initiated_by(),
            "targetResources": targets,
            "additionalDetails": [{"key": k, "value": v} for k, v in details],
        }
        self._events.append(event)
        return event

    def get(self, event_id: str) -> Event | None:
        return next((e for e in self._events if e["id"] == event_id), None)

    def page(
        self, predicate: Callable[[Event], bool] | None, before: int | None, top: int
    ) -> tuple[list[Event], int | None]:
        """Up to ``top`` matching events older than position ``before``, newest first, and
        the position to continue from (``None``: no more). Positions are stable as events
        are appended, so a nextLink never skips or repeats an event."""
        index = len(self._events) if before is None else min(before, len(self._events))
        found: list[Event] = []
        while index > 0 and len(found) < top:
            index -= 1
            event = self._events[index]
            if predicate is None or predicate(event):
                found.append(event)
        more = any(
            predicate is None or predicate(self._events[i]) for i in range(index - 1, -1, -1)
        )
        return found, (index if more else None)
