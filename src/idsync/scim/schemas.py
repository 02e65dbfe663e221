"""The schemas idsync serves (RFC 7643 §4, §7, §8.7) and the resource types binding them.

The core and enterprise schemas come from scim2-models, which transcribes RFC
7643 §4; the few places where its transcription is stricter than the schema
representation of RFC 7643 §8.7.1 (which is what clients read from /Schemas)
are corrected below, each with its reason.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from scim2_models import Context, EnterpriseUser, Group, User

from idsync.scim.urns import (
    BULK_REQUEST,
    BULK_RESPONSE,
    ENTERPRISE_USER,
    ERROR,
    GROUP,
    LIST_RESPONSE,
    PATCH_OP,
    RESOURCE_TYPE,
    SEARCH_REQUEST,
    SERVICE_PROVIDER_CONFIG,
    USER,
)

__all__ = [
    "BULK_REQUEST",
    "BULK_RESPONSE",
    "ENTERPRISE_USER",
    "ERROR",
    "GROUP",
    "LIST_RESPONSE",
    "PATCH_OP",
    "RESOURCE_TYPE",
    "SEARCH_REQUEST",
    "SERVICE_PROVIDER_CONFIG",
    "USER",
]

RESOURCE_TYPES = ("User", "Group")
ENDPOINTS = {"User": "/Users", "Group": "/Groups"}
CORE_SCHEMA = {"User": USER, "Group": GROUP}


def _dump(model: Any) -> dict[str, Any]:
    schema = model.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return dict(schema)


def _sub(attribute: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in attribute["subAttributes"] if s["name"] == name)


def _attr(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in schema["attributes"] if a["name"] == name)


@cache
def _core_schemas() -> dict[str, dict[str, Any]]:
    user, group, enterprise = _dump(User), _dump(Group), _dump(EnterpriseUser)

    # RFC 7643 §8.7.1 declares manager.$ref "required": false. Entra and Okta send
    # only manager.value; the hub fills $ref itself from the id it resolves.
    _sub(_attr(enterprise, "manager"), "$ref")["required"] = False

    # members.display is computed by the hub from the member's current name
    # (RFC 7643 §4.2 calls it read-only); clients that send it are not refused.
    _sub(_attr(group, "members"), "display")["mutability"] = "readOnly"

    # Group names are unique per organisation here (Entra ID matches groups by
    # displayName and requires it); say so, as RFC 7643 §2.2 lets a provider do.
    _attr(group, "displayName")["uniqueness"] = "server"

    for schema in (user, group, enterprise):
        schema.setdefault("description", schema["name"])
    user["description"] = "User Account (RFC 7643 §4.1)"
    group["description"] = "Group (RFC 7643 §4.2)"
    enterprise["description"] = "Enterprise User (RFC 7643 §4.3)"
    return {USER: user, GROUP: group, ENTERPRISE_USER: enterprise}


def core_schemas() -> dict[str, dict[str, Any]]:
    """The built-in schemas, by URN, as fresh copies callers may change."""
    return copy.deepcopy(_core_schemas())


BUILTIN_EXTENSIONS: dict[str, list[tuple[str, bool]]] = {
    "User": [(ENTERPRISE_USER, False)],
    "Group": [],
}
"""Extensions every organisation's resource types carry: (schema URN, required)."""
