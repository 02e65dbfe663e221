"""Error responses: the RFC 7644 §3.12 body, carrying the catalogue code and the tracking ID.

Strict SCIM clients (scim2-client, and so scim2-tester) refuse any attribute the
RFC does not define in an Error message, so the code and tracking ID travel in
``detail`` — which is also what Entra ID and Okta show administrators in their
provisioning logs — and in the ``X-Tracking-Id`` and ``X-Idsync-Error`` headers.
"""

from __future__ import annotations

from typing import Any

from idsync.errors.catalogue import IdsyncError
from idsync.scim.schemas import ERROR


def error_detail(error: IdsyncError, tracking_id: str | None) -> str:
    suffix = f"{error.error.code}, tracking ID {tracking_id}" if tracking_id else error.error.code
    return f"{error.detail} ({suffix})"


def error_body(error: IdsyncError, tracking_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(error.error.status)}
    if error.error.scim_type:
        body["scimType"] = error.error.scim_type
    body["detail"] = error_detail(error, tracking_id)
    return body


def error_headers(error: IdsyncError) -> dict[str, str]:
    headers = {"X-Idsync-Error": error.error.code}
    if error.error.status == 405:
        # RFC 9110 §15.5.6: a 405 MUST list the methods the resource supports.
        headers["Allow"] = str(error.params.get("allowed", ""))
    if "retry_after" in error.params:
        headers["Retry-After"] = str(error.params["retry_after"])
    if error.error.status == 401:
        # RFC 6750 §3: tell the client which scheme to use and what went wrong.
        description = error.error.title.replace('"', "'")
        headers["WWW-Authenticate"] = (
            f'Bearer realm="idsync", error="invalid_token", error_description="{description}"'
        )
    return headers
