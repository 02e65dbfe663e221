"""The SCIM endpoint over HTTP: body limits, media types, authentication, then ``ScimApi``.

All the database work of one request runs in one worker thread, so the event
loop only parses, waits and writes.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idsync.api.calls import Call, Reply, error_reply
from idsync.api.scim import ScimApi
from idsync.config import Settings
from idsync.health.catalogue import (
    INVALID_SYNTAX,
    NOT_ACCEPTABLE,
    ORG_NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    IdsyncError,
)
from idsync.hub import tokens
from idsync.hub.tenant import Hub, Tenant

SCIM_MEDIA_TYPE = "application/scim+json"
_ACCEPTED_BODY_TYPES = ("application/scim+json", "application/json", "text/json")
_ACCEPTABLE = ("application/scim+json", "application/json", "application/*", "*/*", "text/json")
_BODY_METHODS = ("POST", "PUT", "PATCH")


class ScimEndpoint:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings
        self.api = ScimApi(hub)
        self.touch_after = timedelta(seconds=hub.settings.token_touch_seconds)
        self.inline_reads = hub.db.is_sqlite

    async def endpoint(self, request: Request) -> Response:
        scope = request.scope
        info = scope.setdefault("state", {})
        tracking_id: str | None = info.get("tracking_id")
        org_id = request.path_params["org_id"]
        rest = request.path_params.get("rest", "")
        info["org_id"] = org_id
        # Read straight from the ASGI scope: Starlette's Headers, QueryParams and URL
        # objects cost more than the database lookup a typical request makes.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            _check_accept(headers.get("accept"))
        except IdsyncError as exc:
            return self._respond(request, error_reply(exc, tracking_id))
        body, body_error = None, None
        try:
            body = await self._body(request, headers, rest)
        except IdsyncError as exc:
            if exc.error.status == 413:
                return self._respond(request, error_reply(exc, tracking_id))
            body_error = exc
        call = Call(
            method=request.method,
            path=rest,
            params=dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)),
            headers={k: v for k, v in headers.items() if k in _FORWARDED},
            body=body,
            body_error=body_error,
        )
        arguments = (
            org_id,
            headers.get("authorization"),
            call,
            self._base_url(scope, headers, org_id),
            tracking_id,
        )
        if self.inline_reads and request.method == "GET":
            # SQLite reads take tens of microseconds; handing them to a worker
            # thread would cost more than the read (measured: ~85 µs a request).
            reply = self._handle(*arguments)
        else:
            reply = await run_in_threadpool(self._handle, *arguments)
        return self._respond(request, reply)

    def _base_url(
        self, scope: MutableMapping[str, Any], headers: dict[str, str], org_id: str
    ) -> str:
        if self.settings.public_url:
            return f"{self.settings.public_url.rstrip('/')}/scim/{org_id}/v2"
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}/scim/{org_id}/v2"

    def _handle(
        self,
        org_id: str,
        authorization: str | None,
        call: Call,
        base_url: str,
        tracking_id: str | None,
    ) -> Reply:
        with self.hub.db.read():
            return self._authenticated(org_id, authorization, call, base_url, tracking_id)

    def _authenticated(
        self,
        org_id: str,
        authorization: str | None,
        call: Call,
        base_url: str,
        tracking_id: str | None,
    ) -> Reply:
        try:
            auth = tokens.authenticate(
                self.hub.db, authorization, touch_after=self.touch_after, tracking_id=tracking_id
            )
            if auth.org_id != org_id:
                # The same answer as for an org that does not exist: a token never
                # learns whether another organisation exists.
                raise IdsyncError(ORG_NOT_FOUND, org=org_id)
            tenant = Tenant(
                org_id,
                self.hub.description(org_id, auth.schema_revision),
                base_url,
                minimal_group_patch=auth.group_patch_response == "minimal",
                actor=f"token:{auth.token_id}",
                tracking_id=tracking_id,
            )
        except IdsyncError as exc:
            return error_reply(exc, tracking_id)
        return self.api.handle(tenant, call)

    async def _body(self, request: Request, headers: dict[str, str], rest: str) -> Any:
        if request.method not in _BODY_METHODS:
            return None
        content_type = headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media and media not in _ACCEPTED_BODY_TYPES:
            raise IdsyncError(UNSUPPORTED_MEDIA_TYPE, content_type=media)
        is_bulk = rest.strip("/").lower() == "bulk"
        limit = self.settings.bulk_max_payload_bytes if is_bulk else self.settings.max_request_bytes
        raw = await _read_limited(request, headers.get("content-length"), limit, self.settings)
        if not raw.strip():
            raise IdsyncError(INVALID_SYNTAX, reason="the request has no body")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise IdsyncError(INVALID_SYNTAX, reason=f"it is not valid JSON ({exc})") from None

    def _respond(self, request: Request, reply: Reply) -> Response:
        info = request.scope.setdefault("state", {})
        headers = dict(reply.headers)
        if reply.error is not None:
            info["error_code"] = reply.error.error.code
        if reply.warnings:
            info["warnings"] = reply.warnings
            headers["Warning"] = ", ".join(_warning(w) for w in reply.warnings[:10])
        if reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        return Response(
            orjson.dumps(reply.body),
            status_code=reply.status,
            headers=headers,
            media_type=SCIM_MEDIA_TYPE,
        )


_FORWARDED = frozenset({"if-match", "if-none-match", "prefer"})


def _warning(text: str) -> str:
    """An RFC 7234 warn-value; header values must stay ASCII."""
    safe = text.encode("ascii", "backslashreplace").decode("ascii").replace('"', "'")
    return f'299 idsync "{safe}"'


def _check_accept(accept: str | None) -> None:
    if not accept:
        return
    offered = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    if not any(media in _ACCEPTABLE for media in offered):
        raise IdsyncError(NOT_ACCEPTABLE, accept=accept[:100])


async def _read_limited(
    request: Request, declared: str | None, limit: int, settings: Settings
) -> bytes:
    error = IdsyncError(
        PAYLOAD_TOO_LARGE,
        limit=limit,
        bulk_limit=settings.bulk_max_payload_bytes,
        bulk_ops=settings.bulk_max_operations,
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise error
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise error
        chunks.append(chunk)
    return b"".join(chunks)
