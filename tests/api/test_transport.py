"""Every connection ``idsync serve`` accepts has Nagle's algorithm off. uvicorn wraps the
descriptor serve hands it as a Unix socket and so never sets TCP_NODELAY itself; without
it, each request after the first on a kept-alive connection waited for the client's
delayed ACK (about 40 ms on loopback; see api/transport.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from idsync.api.transport import NoDelayHttpToolsProtocol


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def nodelay_seen(protocol: type[HttpToolsProtocol]) -> list[int]:
    """Serve on a socket given by descriptor, as ``idsync serve`` does, with ``protocol``;
    TCP_NODELAY of each connection accepted, as it was once the protocol had it."""
    seen: list[int] = []

    class Probe(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    port = listening.getsockname()[1]
    config = uvicorn.Config(app, fd=listening.fileno(), http=Probe, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(50):
                try:
                    assert client.get("/").text == "ok"
                    break
                except httpx.TransportError:
                    threading.Event().wait(0.1)
            assert client.get("/").text == "ok"  # the same kept-alive connection
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()
    return seen


def test_connections_have_nagle_off() -> None:
    assert nodelay_seen(NoDelayHttpToolsProtocol) == [1]


def test_uvicorn_alone_leaves_nagle_on_for_a_descriptor() -> None:
    # Why the subclass exists: if a uvicorn release sets TCP_NODELAY itself, this fails
    # and api/transport.py can go.
    assert nodelay_seen(HttpToolsProtocol) == [0]
