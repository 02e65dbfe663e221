"""Request bodies the tests send, in the shapes the RFC (and real clients) use."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

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


DETAIL_SUFFIX = re.compile(r"\((IDS-\d{3}-\d{3}), tracking ID (IDS_[0-9a-f-]{36})\)$")


def assert_scim_error(
    response: httpx.Response,
    status: int,
    scim_type: str | None = None,
    *,
    code: str | None = None,
    exact_type: bool = False,
) -> None:
    """An RFC 7644 §3.12 error body, nothing more, whose detail ends with idsync's
    ``(IDS-nnn-nnn, tracking ID IDS_…)`` matching the X-Tracking-Id header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if exact_type or scim_type is not None:
        assert body.get("scimType") == scim_type
    assert set(body) <= {"schemas", "status", "scimType", "detail"}
    match = DETAIL_SUFFIX.search(body["detail"])
    assert match, body["detail"]
    assert match.group(2) == response.headers["x-tracking-id"]
    if code is not None:
        assert match.group(1) == code
