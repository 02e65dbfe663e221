"""Response helpers shared by the Graph and login endpoints: JSON bodies, error shapes, ids.

Graph errors: https://learn.microsoft.com/graph/errors — ``{"error": {"code", "message",
"innerError": {"date", "request-id", "client-request-id"}}}``; every Graph response also
carries ``request-id`` and ``client-request-id`` headers (the client's own id echoed back,
or the request id when it sent none).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


class GraphError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def json_response(
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = GRAPH_JSON,
) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=media_type)


def request_ids(scope: Scope) -> tuple[str, str]:
    state = scope.get("state") or {}
    request_id = state.get("request_id") or str(uuid.uuid4())
    return request_id, state.get("client_request_id") or request_id


def graph_error_body(scope: Scope, code: str, message: str) -> dict[str, Any]:
    request_id, client_request_id = request_ids(scope)
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def oauth_error_body(scope: Scope, error: str, code: int, message: str) -> dict[str, Any]:
    """The identity platform's OAuth 2.0 error body (not Graph's): what msal parses."""
    trace_id, correlation_id = request_ids(scope)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
        ),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }


def graph_error(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    return json_response(
        graph_error_body(request.scope, code, message), status, headers, "application/json"
    )


def base_url(request: Request) -> str:
    """The emulator's own origin as the client reached it (links must point back here)."""
    return f"{request.url.scheme}://{request.url.netloc}"


class RequestIds:
    """ASGI middleware: a request id per request, echoed with the client's id in headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        client_request_id = request_id
        for name, value in scope["headers"]:
            if name == b"client-request-id":
                client_request_id = value.decode("latin-1")
                break
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["client_request_id"] = client_request_id
        extra = [
            (b"request-id", request_id.encode()),
            (b"client-request-id", client_request_id.encode("latin-1")),
            (b"x-ms-request-id", request_id.encode()),
        ]

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_ids)
