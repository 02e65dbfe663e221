"""The SCIM endpoint over HTTP: body limits, media types, authentication, then ``ScimApi``.

It is a plain ASGI application mounted at ``/scim/{org_id}/v2``, not a Starlette
route: a lookup costs the database ~40 µs, and Starlette's per-request objects
(Request, Headers, QueryParams, URL, Response, exception middleware) cost more
than that. Everything else the service serves (health, OpenAPI, 404s) is Starlette.

On SQLite the database work of reads, creations and deletions runs on the event
loop thread (index probes and sub-millisecond writes). PUT and PATCH (whose cost
grows with the resource they rewrite), /Bulk, large bodies and requests that hash
a password run in a worker thread, so the loop only parses, waits and writes. On
PostgreSQL only a GET of at most one user by a unique key (``filter=userName eq
"…"``, ``externalId``, ``id``, or ``/Users/{id}``) runs on the loop: one round trip
to the server, where handing it to a thread cost more than the lookup (measured:
two workers answered about half as many); anything that could keep the server
busy for long goes to a thread.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from idsync.api.calls import Call, Reply, error_reply
from idsync.api.scim import ScimApi
from idsync.config import Settings
from idsync.errors.catalogue import (
    INVALID_SYNTAX,
    NESTED_TOO_DEEP,
    NOT_ACCEPTABLE,
    NUL_CHARACTER,
    ORG_NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    IdsyncError,
)
from idsync.hub import tokens
from idsync.hub.rejections import RejectionLimiter
from idsync.hub.tenant import Hub, Tenant
from idsync.manage import health
from idsync.store.tokens import TokenRecord

SCIM_MEDIA_TYPE = "application/scim+json"
# fullmatch with DOTALL: a trailing %0A is part of the path (``$`` alone matches before it).
SCIM_PATH = re.compile(r"/scim/(?P<org>[^/]+)/v2(?P<rest>/.*)?", re.DOTALL)
MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays a body may have (RFC 8259 §9 lets a server limit it).

A SCIM body nests about six levels (Bulk → Operations → data → extension → complex
attribute → value); without a limit, a body nested a few hundred levels deep runs the
parsers and validators out of Python's recursion limit."""
_ACCEPTED_BODY_TYPES = ("application/scim+json", "application/json", "text/json")
_ACCEPTABLE = ("application/scim+json", "application/json", "application/*", "*/*", "text/json")
_BODY_METHODS = ("POST", "PUT", "PATCH")
_FORWARDED = frozenset({"if-match", "if-none-match", "prefer"})
_INLINE_METHODS = ("GET", "POST", "DELETE")
_INLINE_BODY_BYTES = 64 * 1024
"""A body above this is worked on in a thread: its cost grows with its size."""


class ScimRouter:
    """Sends ``/scim/{org_id}/v2…`` to the SCIM endpoint and the rest to ``app``."""

    def __init__(self, scim: ScimEndpoint, app: ASGIApp) -> None:
        self.scim = scim
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Every method: one the endpoint does not serve gets 405 with Allow there.
            match = SCIM_PATH.fullmatch(scope["path"])
            if match is not None:
                await self.scim(scope, receive, send, match["org"], match["rest"] or "")
                return
        await self.app(scope, receive, send)


class ScimEndpoint:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings
        self.api = ScimApi(hub)
        self.touch_after = timedelta(seconds=hub.settings.token_touch_seconds)
        self.tokens = tokens.TokenCache(hub.settings.token_cache_seconds)
        self.rejections = RejectionLimiter(hub.db, hub.settings, self._refused)
        self.sqlite = hub.db.is_sqlite

    def _refused(self, token: TokenRecord) -> None:
        """A directory presents a revoked or expired token: its org is alerted (once a day)."""
        health.after_refusal(self.hub.db, self.settings, token)

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, org_id: str, rest: str
    ) -> None:
        info = scope.setdefault("state", {})
        info["org_id"] = org_id
        tracking_id: str | None = info.get("tracking_id")
        reply = await self._reply(scope, receive, org_id, rest, tracking_id)
        # RFC 9110 §9.3.2: HEAD answers as GET would, without the body.
        await self._send(send, info, reply, with_body=scope["method"] != "HEAD")

    async def _reply(
        self, scope: Scope, receive: Receive, org_id: str, rest: str, tracking_id: str | None
    ) -> Reply:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        try:
            _check_accept(headers.get("accept"))
            _refuse_nul(org_id, rest, params)
        except IdsyncError as exc:
            return error_reply(exc, tracking_id)
        body, body_error, size = None, None, 0
        if method in _BODY_METHODS:
            try:
                body, size = await self._body(receive, headers, rest)
            except IdsyncError as exc:
                if exc.error.status == 413:
                    return error_reply(exc, tracking_id)
                body_error = exc
        call = Call(
            method=method,
            path=rest,
            params=params,
            headers={k: v for k, v in headers.items() if k in _FORWARDED},
            body=body,
            body_error=body_error,
        )
        client = scope.get("client")
        arguments = (
            org_id,
            headers.get("authorization"),
            client[0] if client else "unknown",
            call,
            self._base_url(scope, headers, org_id),
            tracking_id,
        )
        if self._inline(method, rest, params, size, body):
            return self._handle(*arguments)
        reply: Reply = await run_in_threadpool(self._handle, *arguments)
        return reply

    def _inline(self, method: str, rest: str, params: dict[str, str], size: int, body: Any) -> bool:
        """Whether the request runs on the event loop (see the module's docstring)."""
        if not self.sqlite:
            return _one_user_by_key(method, rest, params)
        # Handing SQLite work to a worker thread costs more than small work (measured:
        # ~85 µs a request). A bulk request (up to 1000 writes), password hashing
        # (~50 ms), a large body and a PUT or PATCH (which validate and rewrite a whole
        # resource, however many values it holds) go to a thread, so others proceed.
        return (
            method in _INLINE_METHODS
            and size <= _INLINE_BODY_BYTES
            and not rest.lower().startswith("/bulk")
            and not _hashes_a_password(body)
        )

    def _handle(
        self,
        org_id: str,
        authorization: str | None,
        source: str,
        call: Call,
        base_url: str,
        tracking_id: str | None,
    ) -> Reply:
        try:
            with self.hub.db.read():
                tenant = self._tenant(org_id, authorization, source, base_url, tracking_id)
                return self.api.handle(tenant, call)
        except IdsyncError as exc:
            # The request's own errors are answered by ``handle``; what reaches here is the
            # tenant refused, or the database lost under a read (``DATABASE_UNAVAILABLE``,
            # raised as the read ends): a 503 the client may retry, not a 500.
            return error_reply(exc, tracking_id)

    def _tenant(
        self,
        org_id: str,
        authorization: str | None,
        source: str,
        base_url: str,
        tracking_id: str | None,
    ) -> Tenant:
        auth = tokens.authenticate(
            self.hub.db,
            authorization,
            touch_after=self.touch_after,
            limiter=self.rejections,
            source=source,
            cache=self.tokens,
            tracking_id=tracking_id,
        )
        if auth.org_id != org_id:
            # The same answer as for an org that does not exist: a token never
            # learns whether another organisation exists.
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        return Tenant(
            org_id,
            self.hub.description(org_id, auth.schema_revision),
            base_url,
            minimal_group_patch=auth.group_patch_response == "minimal",
            actor=f"token:{auth.token_id}",
            tracking_id=tracking_id,
        )

    def _base_url(self, scope: Scope, headers: dict[str, str], org_id: str) -> str:
        if self.settings.public_url:
            return f"{self.settings.public_url.rstrip('/')}/scim/{org_id}/v2"
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}/scim/{org_id}/v2"

    async def _body(self, receive: Receive, headers: dict[str, str], rest: str) -> tuple[Any, int]:
        content_type = headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media and media not in _ACCEPTED_BODY_TYPES:
            raise IdsyncError(UNSUPPORTED_MEDIA_TYPE, content_type=media)
        is_bulk = rest.strip("/").lower() == "bulk"
        limit = self.settings.bulk_max_payload_bytes if is_bulk else self.settings.max_request_bytes
        raw = await _read_limited(receive, headers.get("content-length"), limit, self.settings)
        if not raw.strip():
            raise IdsyncError(INVALID_SYNTAX, reason="the request has no body")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):
                # orjson stops at 1024 levels, before the walk below could.
                raise IdsyncError(NESTED_TOO_DEEP, limit=MAX_JSON_DEPTH) from None
            raise IdsyncError(INVALID_SYNTAX, reason=f"it is not valid JSON ({exc})") from None
        _check_json(body)
        return body, len(raw)

    @staticmethod
    async def _send(send: Send, info: dict[str, Any], reply: Reply, *, with_body: bool) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in reply.headers.items()
        ]
        if reply.error is not None:
            info["error_code"] = reply.error.error.code
        if reply.work is not None:
            info["work"] = reply.work
        if reply.warnings:
            info["warnings"] = reply.warnings
            warnings = ", ".join(_warning(w) for w in reply.warnings[:10])
            headers.append((b"warning", warnings.encode("ascii")))
        body = b"" if reply.body is None else orjson.dumps(reply.body)
        if reply.body is not None:
            headers.append((b"content-type", SCIM_MEDIA_TYPE.encode()))
        if reply.status != 304:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body if with_body else b""})


_KEY_FILTER = re.compile(
    r'\s*(?:userName|externalId|id)\s+eq\s+"(?:[^"\\]|\\.)*"\s*', re.IGNORECASE
)
_USER_PATH = re.compile(r"/Users/[^/]+", re.IGNORECASE)


def _one_user_by_key(method: str, rest: str, params: dict[str, str]) -> bool:
    """A GET of at most one user through a unique index: ``/Users/{id}``, or ``/Users``
    filtered by one ``eq`` on userName, externalId or id (groups carry member lists)."""
    if method != "GET":
        return False
    if _USER_PATH.fullmatch(rest):
        return True
    return rest.lower() == "/users" and _KEY_FILTER.fullmatch(params.get("filter", "")) is not None


def _refuse_nul(org_id: str, rest: str, params: dict[str, str]) -> None:
    """A NUL in the URL (``%00``) is refused here, so that no backend ever sees it."""
    if "\x00" in org_id or "\x00" in rest:
        raise IdsyncError(NUL_CHARACTER, where="the URL path")
    for name, value in params.items():
        if "\x00" in name or "\x00" in value:
            raise IdsyncError(NUL_CHARACTER, where=f"the query parameter {name!r}")


def _check_json(body: Any) -> None:
    """Refuse bodies nested deeper than MAX_JSON_DEPTH, or holding a NUL in any string.

    One walk without recursion, before any code that recurses over the body runs.
    """
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
            if any("\x00" in key for key in node):
                raise IdsyncError(NUL_CHARACTER, where="an attribute name of the body")
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, str) and "\x00" in node:
                raise IdsyncError(NUL_CHARACTER, where="a value of the body")
            continue
        if depth > MAX_JSON_DEPTH:
            raise IdsyncError(NESTED_TOO_DEEP, limit=MAX_JSON_DEPTH)
        stack.extend((child, depth + 1) for child in children)


def _hashes_a_password(body: Any) -> bool:
    """Whether handling this body means hashing a password (a ``password`` key anywhere)."""
    if isinstance(body, dict):
        return (
            any(
                (isinstance(key, str) and key.lower() == "password") or _hashes_a_password(value)
                for key, value in body.items()
            )
            or "password" in str(body.get("path", "")).lower()
        )
    if isinstance(body, list):
        return any(_hashes_a_password(item) for item in body)
    return False


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
    receive: Receive, declared: str | None, limit: int, settings: Settings
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
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise error
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
