"""Rows rendered as SCIM resources (RFC 7643 §3: id, meta, and the stored attributes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from idsync.hub.tenant import Tenant
from idsync.scim.schemas import ENTERPRISE_USER
from idsync.scim.values import format_datetime


def etag(version: int) -> str:
    return f'W/"{version}"'


def location(tenant: Tenant, resource_type: str, resource_id: str) -> str:
    return f"{tenant.base_url}{tenant.description.resource_types[resource_type].endpoint}/{resource_id}"


def _meta(tenant: Tenant, resource_type: str, row: Any) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "created": format_datetime(row.created_at),
        "lastModified": format_datetime(row.updated_at),
        "location": location(tenant, resource_type, row.id),
        "version": etag(row.version),
    }


def user(
    tenant: Tenant, row: Any, groups: Sequence[tuple[str, str, bool]] | None
) -> dict[str, Any]:
    doc: dict[str, Any] = row.doc
    resource: dict[str, Any] = {"schemas": doc["schemas"], "id": row.id}
    for key, value in doc.items():
        if key != "schemas":
            resource[key] = value
    enterprise = resource.get(ENTERPRISE_USER)
    if enterprise and "manager" in enterprise:
        manager = dict(enterprise["manager"])
        manager["$ref"] = f"{tenant.base_url}/Users/{manager['value']}"
        resource[ENTERPRISE_USER] = {**enterprise, "manager": manager}
    if groups is not None:
        resource["groups"] = [
            {
                "value": group_id,
                "$ref": f"{tenant.base_url}/Groups/{group_id}",
                "display": display,
                "type": "direct" if direct else "indirect",
            }
            for group_id, display, direct in groups
        ]
    resource["meta"] = _meta(tenant, "User", row)
    return resource


def group(tenant: Tenant, row: Any, members: Sequence[tuple[str, str]] | None) -> dict[str, Any]:
    doc: dict[str, Any] = row.doc
    resource: dict[str, Any] = {"schemas": doc["schemas"], "id": row.id}
    for key, value in doc.items():
        if key != "schemas":
            resource[key] = value
    if members is not None:
        base = tenant.base_url
        resource["members"] = [
            {"value": member_id, "$ref": f"{base}/{kind}s/{member_id}", "type": kind}
            for member_id, kind in members
        ]
    resource["meta"] = _meta(tenant, "Group", row)
    return resource
