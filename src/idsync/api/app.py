"""The ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from idsync.api import management, pages
from idsync.api.errors import error_body, error_headers
from idsync.api.http import SCIM_MEDIA_TYPE, ScimEndpoint, ScimRouter
from idsync.api.middleware import RequestContextMiddleware
from idsync.api.openapi import openapi_document
from idsync.config import Settings
from idsync.console import routes as console
from idsync.errors.catalogue import ENDPOINT_NOT_FOUND, METHOD_NOT_ALLOWED, IdsyncError
from idsync.health.consent import CALLBACK_PATH
from idsync.hub.tenant import Hub
from idsync.logs import configure
from idsync.manage import repair
from idsync.store.database import open_database


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings.from_env()
    configure(settings.log_level, settings.log_format)
    db = open_database(settings.database_url)
    hub = Hub(db, settings)
    openapi = orjson.dumps(openapi_document())

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(db.ping)
        except IdsyncError as exc:
            return _error(request, exc)
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def consent_callback(request: Request) -> Response:
        # Where Entra ID sends the administrator's browser after admin consent.
        info = request.scope.setdefault("state", {})
        address = request.client.host if request.client else "unknown"
        params = dict(request.query_params)
        try:
            repaired = await run_in_threadpool(
                repair.consent_callback, db, settings, params, address
            )
        except IdsyncError as exc:
            info["error_code"] = exc.error.code
            return pages.error_page(exc, info.get("tracking_id"))
        if isinstance(repaired, repair.Consented):
            # The console's add flow: back to the integration, ready for its first cycle.
            target = f"/admin/integrations/{repaired.integration.id}?consented=1"
            return RedirectResponse(target, status_code=303)
        return pages.repaired_page(repaired, info.get("tracking_id"))

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(request, IdsyncError(ENDPOINT_NOT_FOUND, path=request.url.path))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        allow = getattr(exc, "headers", None) or {}
        allowed = ", ".join(sorted(m.strip() for m in allow.get("Allow", "GET").split(",")))
        return _error(
            request,
            IdsyncError(
                METHOD_NOT_ALLOWED, method=request.method, path=request.url.path, allowed=allowed
            ),
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route(CALLBACK_PATH, consent_callback, methods=["GET"]),
            *management.routes(db, settings, hub),
            *console.routes(db, settings, hub),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
        lifespan=lifespan,
    )
    return RequestContextMiddleware(ScimRouter(ScimEndpoint(hub), _no_line_breaks(app)))


def _no_line_breaks(app: ASGIApp) -> ASGIApp:
    """Starlette matches routes with ``$``, which also matches before a trailing newline:
    ``/healthz%0A`` would be ``/healthz``. No route has a line break, so none matches."""

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\n" in scope["path"]:
            scope["path"] = scope["path"].replace("\n", "%0A")
        await app(scope, receive, send)

    return routed


def _error(request: Request, error: IdsyncError) -> Response:
    info = request.scope.setdefault("state", {})
    info["error_code"] = error.error.code
    return Response(
        orjson.dumps(error_body(error, info.get("tracking_id"))),
        status_code=error.error.status,
        headers=error_headers(error),
        media_type=SCIM_MEDIA_TYPE,
    )


def app_from_env() -> ASGIApp:
    """The factory ``idsync serve`` hands uvicorn: each worker process builds its own app."""
    return create_app(Settings.from_env())
