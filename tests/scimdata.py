"""Request bodies the tests send, in the shapes the RFC (and real clients) use."""

from __future__ import annotations

import uuid
from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def user(user_name: str | None = None, **attributes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [USER], "userName": user_name or f"{unique()}@example.com"}
    body.update(attributes)
    return body


def group(
    display_name: str | None = None, members: list[str] | None = None, **attributes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP], "displayName": display_name or unique("group-")}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    body.update(attributes)
    return body


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}
