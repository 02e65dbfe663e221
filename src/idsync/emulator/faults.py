"""Fault injection for tests: make the next N matching requests fail in a chosen way.

Not part of Graph. Faults are queued with ``POST /_emulator/faults`` (admin token) and
matched, in the order they were queued, by path prefix and optionally method:

* ``status``: answer 401/403/429/500/503 (any 4xx/5xx) with Graph's error body (and
  ``Retry-After`` when given — Graph sends it with 429 and 503,
  https://learn.microsoft.com/graph/throttling);
* ``hang``: wait ``seconds`` before handling the request normally (a client with a
  shorter timeout sees a timeout);
* ``reset``: drop the TCP connection without a response. The HTTP protocol class
  (``ResettableHttpToolsProtocol`` in ``server.py``) exposes its transport to the app in
  ``scope["extensions"]["idsync.connection"]``; the fault sets ``SO_LINGER`` to zero on the
  socket and aborts the transport, so the client gets a TCP RST mid-request ("connection
  reset by peer" / "server disconnected without sending a response").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from idsync.emulator.responses import graph_error_body, oauth_error_body

# Graph's error codes for the statuses tests inject (https://learn.microsoft.com/graph/errors).
DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource not found."),
    429: (
        "TooManyRequests",
        "Too many requests, please try again later.",
    ),
    500: ("InternalServerError", "Internal server error."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceNotAvailable", "The service is temporarily unavailable; try again later."),
    504: ("GatewayTimeout", "Gateway timeout."),
}
ACTIONS = ("status", "hang", "reset")


@dataclass(slots=True)
class Fault:
    id: int
    path: str
    method: str | None
    action: str
    count: int
    status: int = 503
    retry_after: int | None = None
    seconds: float = 0.0
    code: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.count > 0
            and path.startswith(self.path)
            and (self.method is None or self.method == method)
        )


class FaultError(ValueError):
    pass


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict[str, Any]) -> Fault:
        """Queue a fault from its JSON description (see the module docstring)."""
        path = spec.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise FaultError("'path' must be a path prefix starting with '/'")
        action = spec.get("action", "status")
        if action not in ACTIONS:
            raise FaultError(f"'action' must be one of {', '.join(ACTIONS)}")
        count = spec.get("count", 1)
        status = spec.get("status", 503)
        if not isinstance(count, int) or count < 1:
            raise FaultError("'count' must be a positive integer")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultError("'status' must be an HTTP error status (400-599)")
        retry_after = spec.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise FaultError("'retry_after' must be a whole number of seconds")
        seconds = spec.get("seconds", 0)
        if not isinstance(seconds, int | float) or seconds < 0:
            raise FaultError("'seconds' must be a non-negative number")
        method = spec.get("method")
        fault = Fault(
            id=next(self._ids),
            path=path,
            method=method.upper() if isinstance(method, str) else None,
            action=action,
            count=count,
            status=status,
            retry_after=retry_after,
            seconds=float(seconds),
            code=spec.get("code"),
            message=spec.get("message"),
        )
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self._faults]


class FaultInjector:
    """ASGI middleware applying queued faults to every request outside ``/_emulator/``."""

    def __init__(self, app: ASGIApp, faults: FaultQueue) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.action == "hang":
            await asyncio.sleep(fault.seconds)
            await self.app(scope, receive, send)
        elif fault.action == "reset":
            await _reset(scope, receive)
        else:
            await _error(scope, send, fault)


# The token endpoint answers in OAuth 2.0's shape: (error, AADSTS number) per status.
OAUTH_ERRORS: dict[int, tuple[str, int]] = {
    400: ("invalid_request", 900144),
    401: ("invalid_client", 7000215),
    403: ("unauthorized_client", 700016),
    429: ("temporarily_unavailable", 90033),
}


def _error_body(scope: Scope, fault: Fault) -> dict[str, Any]:
    code, message = DEFAULT_ERRORS.get(fault.status, ("UnknownError", "Injected fault."))
    if "/oauth2/" in scope["path"]:
        error, number = OAUTH_ERRORS.get(fault.status, ("server_error", 90033))
        return oauth_error_body(scope, error, number, fault.message or message)
    return graph_error_body(scope, fault.code or code, fault.message or message)


async def _error(scope: Scope, send: Send, fault: Fault) -> None:
    body = orjson.dumps(_error_body(scope, fault))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if fault.retry_after is not None:
        headers.append((b"retry-after", str(fault.retry_after).encode()))
    await send({"type": "http.response.start", "status": fault.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _reset(scope: Scope, receive: Receive) -> None:
    connection = (scope.get("extensions") or {}).get("idsync.connection")
    if connection is None:
        # No transport to abort (another server or protocol): fail loudly instead.
        raise ConnectionAbortedError("injected connection reset (transport not reachable)")
    transport = connection["transport"]
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # linger 0: closing sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let the server notice the disconnect, so it does not try to send a 500 afterwards.
    for _ in range(50):
        message = await receive()
        if message["type"] == "http.disconnect":
            return
