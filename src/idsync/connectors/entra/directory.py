"""What the health features read about the tenant itself: our service principal, the audit log.

- "List servicePrincipals" with ``$filter=appId eq '{appId}'`` finds the enterprise
  application that stands for our app registration in the tenant (needs
  Application.Read.All).
- "List directoryAudits" (``/auditLogs/directoryAudits``) supports ``$filter`` on
  ``activityDisplayName`` (eq) and ``activityDateTime`` (ge), ``$top`` and paging by
  ``@odata.nextLink`` (needs AuditLog.Read.All). Deleting an enterprise application
  is recorded as "Remove service principal", category ApplicationManagement,
  logged by Core Directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from idsync.connectors.entra.client import GraphClient, JsonObject

SERVICE_PRINCIPAL_PROPERTIES = "id,appId,displayName,accountEnabled"


def find_service_principal(client: GraphClient, app_id: str) -> JsonObject | None:
    body = client.get(
        "/v1.0/servicePrincipals",
        {"$filter": f"appId eq {odata_string(app_id)}", "$select": SERVICE_PRINCIPAL_PROPERTIES},
    )
    found = body.get("value") or []
    return dict(found[0]) if found else None


def directory_audits(
    client: GraphClient,
    *,
    activity: str | None = None,
    since: datetime | None = None,
    top: int | None = None,
    page_size: int = 999,
) -> Iterator[JsonObject]:
    """Audit records, newest first as Graph returns them; at most ``top`` if given."""
    params = {"$top": str(min(page_size, top) if top else page_size)}
    conditions = []
    if activity is not None:
        conditions.append(f"activityDisplayName eq {odata_string(activity)}")
    if since is not None:
        conditions.append(f"activityDateTime ge {odata_datetime(since)}")
    if conditions:
        params["$filter"] = " and ".join(conditions)
    yield from _limited(paged(client, "/v1.0/auditLogs/directoryAudits", params), top)


def paged(client: GraphClient, path: str, params: dict[str, str]) -> Iterator[JsonObject]:
    """Every item of a Graph collection, following ``@odata.nextLink``."""
    body = client.get(path, params)
    while True:
        yield from body.get("value") or []
        next_link = body.get("@odata.nextLink")
        if not next_link:
            return
        body = client.get(str(next_link))


def _limited(records: Iterator[JsonObject], top: int | None) -> Iterator[JsonObject]:
    for count, record in enumerate(records, start=1):
        yield record
        if top is not None and count >= top:
            return


def odata_string(value: str) -> str:
    """An OData string literal: single quotes, an embedded quote doubled."""
    return "'" + value.replace("'", "''") + "'"


def odata_datetime(value: datetime) -> str:
    """A DateTimeOffset literal in UTC (OData v4 writes it unquoted)."""
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
