"""The emulator's ASGI app: Graph under ``/v1.0/``, login endpoints, ``/_emulator/`` controls."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from idsync.emulator.admin import AdminApi
from idsync.emulator.context import Emulator
from idsync.emulator.directory import DirectoryError
from idsync.emulator.faults import FaultInjector
from idsync.emulator.graph import GraphApi
from idsync.emulator.login import LoginApi
from idsync.emulator.responses import GraphError, RequestIds, graph_error, request_ids


async def _graph_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GraphError | DirectoryError)
    headers = exc.headers if isinstance(exc, GraphError) else None
    return graph_error(request, exc.status, exc.code, exc.message, headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Outside the request-id middleware (Starlette runs this handler outermost), so the
    # ids it already put in the scope are added here.
    request_id, client_request_id = request_ids(request.scope)
    return graph_error(
        request,
        500,
        "InternalServerError",
        f"The emulator failed to handle the request: {type(exc).__name__}: {exc}",
        {"request-id": request_id, "client-request-id": client_request_id},
    )


def build_app(emulator: Emulator) -> Starlette:
    graph = GraphApi(emulator)
    login = LoginApi(emulator)
    admin = AdminApi(graph)
    # Graph and admin routes first: the login routes' "/{tenant}/…" patterns are broad.
    routes = [*admin.routes(), *graph.routes(), *login.routes()]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIds),
            Middleware(FaultInjector, faults=emulator.faults),
        ],
        exception_handlers={
            GraphError: _graph_error,
            DirectoryError: _graph_error,
            Exception: _internal_error,
        },
    )
