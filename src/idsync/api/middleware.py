"""Every request gets a tracking ID, one structured log line, and never a traceback.

Pure ASGI (no per-request objects beyond a dict) because it wraps every request,
including the hot lookups Entra ID makes on every sync.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idsync.api.errors import error_body, error_headers
from idsync.errors.catalogue import INTERNAL, IdsyncError
from idsync.errors.tracking import current_tracking_id, new_tracking_id
from idsync.logs import get_logger

log = get_logger("idsync.http")

_SECURITY_HEADERS = (
    # Browsers must not guess a type for a body (an error echoing input as HTML).
    (b"x-content-type-options", b"nosniff"),
    # SCIM answers carry personal data: no proxy or browser may keep a copy (RFC 9111
    # §5.2.2.5). The few answers that do not (health, the OpenAPI document) lose little.
    (b"cache-control", b"no-store"),
)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracking_id = new_tracking_id()
        info: dict[str, Any] = scope.setdefault("state", {})
        info["tracking_id"] = tracking_id
        token = current_tracking_id.set(tracking_id)
        _strip_trailing_slash(scope)
        started = time.perf_counter()
        status = 500
        response_started = False
        headers = [(b"x-tracking-id", tracking_id.encode("ascii")), *_SECURITY_HEADERS]

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "request failed",
                tracking_id=tracking_id,
                method=scope["method"],
                path=scope["path"],
            )
            info["error_code"] = INTERNAL.code
            if not response_started:
                status = 500
                await _send_internal_error(send_with_id, tracking_id)
        finally:
            _log_request(scope, info, status, started, tracking_id)
            current_tracking_id.reset(token)


def _strip_trailing_slash(scope: Scope) -> None:
    """``/Users/?filter=…`` means ``/Users`` (Microsoft's SCIM validator sends it)."""
    path: str = scope["path"]
    if len(path) > 1 and path.endswith("/"):
        scope["path"] = path.rstrip("/") or "/"
        raw = scope.get("raw_path")
        if raw:
            scope["raw_path"] = raw.rstrip(b"/") or b"/"


async def _send_internal_error(send: Send, tracking_id: str) -> None:
    error = IdsyncError(INTERNAL)
    body = orjson.dumps(error_body(error, tracking_id))
    headers = [
        (b"content-type", b"application/scim+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers.extend((k.lower().encode(), v.encode()) for k, v in error_headers(error).items())
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _log_request(
    scope: Scope, info: dict[str, Any], status: int, started: float, tracking_id: str
) -> None:
    if status >= 500:
        level = logging.ERROR
    elif "error_code" in info or "warnings" in info:
        level = logging.WARNING
    else:
        level = logging.INFO
    if not log.is_enabled_for(level):
        # Building the line costs a tenth of a filtered GET: not for a line nobody keeps.
        return
    headers = dict(scope.get("headers") or [])
    fields: dict[str, Any] = {
        "tracking_id": tracking_id,
        "method": scope["method"],
        # The path only: query strings hold filter values (names, emails).
        "path": scope["path"],
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    for key in ("org_id", "error_code", "warnings", "work"):
        if key in info:
            fields[key] = info[key]
    client_request_id = headers.get(b"client-request-id") or headers.get(b"x-request-id")
    if client_request_id:
        fields["client_request_id"] = client_request_id.decode("latin-1")[:100]
    user_agent = headers.get(b"user-agent")
    if user_agent:
        fields["user_agent"] = user_agent.decode("latin-1")[:200]
    log.log(level, "request", **fields)
