"""The HTTP protocol ``idsync serve`` runs: uvicorn's httptools protocol with Nagle's
algorithm off on every connection.

``idsync serve`` binds its socket itself and hands uvicorn the descriptor (``fd``);
uvicorn wraps a descriptor as an ``AF_UNIX`` socket (uvicorn 0.3x–0.5x, config.py and
server.py), so the event loop never sets ``TCP_NODELAY`` on the connections it accepts,
as it does for TCP servers. A response goes out in two writes (head, then body); with
Nagle on, the second waits for the client's ACK of the first, which the client delays
by up to 40 ms: every request after the first on a kept-alive connection took about
42 ms on loopback instead of 1–3 (measured with curl and httpx, benchmarks/bench_console.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket (a Unix one): nothing to do
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
