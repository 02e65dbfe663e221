"""Serving the emulator over HTTPS with uvicorn: as the CLI does, or in a thread for tests."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from idsync.emulator.app import build_app
from idsync.emulator.context import Emulator, EmulatorConfig, build_emulator
from idsync.emulator.tls import TlsFiles, make_certificates


class ResettableHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, exposing its transport to the app.

    ASGI has no way to drop a connection without answering; the ``reset`` fault needs
    one, so each request's scope carries ``extensions["idsync.connection"]["transport"]``.
    """

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"idsync.connection": {"transport": self.transport}}

    def shutdown(self) -> None:
        # An idle keep-alive connection is dropped at once: closing it politely means a
        # TLS close_notify exchange that an idle client never answers, which would hold
        # the emulator's shutdown for the whole SSL shutdown timeout.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()


def bind(host: str, port: int) -> socket.socket:
    """Bind first (port 0 → a free port), so the URL is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}"


def describe(emulator: Emulator, url: str, tls: TlsFiles, state_dir: Path) -> dict[str, Any]:
    """The one JSON line the CLI prints once it is listening."""
    directory = emulator.directory
    counts = directory.counts()
    admin = directory.users[directory.admin_user_id].current or {}
    app = directory.apps[emulator.client_id]
    return {
        "url": url,
        "tenant_id": directory.tenant.id,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "admin_token": emulator.admin_token,
        "ca_file": str(tls.ca_file),
        "authority": f"{url}/{directory.tenant.id}",
        "graph_url": url,
        "tenant_domain": directory.tenant.domain,
        "admin_upn": admin.get("userPrincipalName"),
        "admin_password": emulator.admin_password,
        "app_name": app.display_name,
        "redirect_uris": list(app.redirect_uris),
        "users": counts["users"],
        "groups": counts["groups"],
        "memberships": counts["memberships"],
        "member_page_budget": emulator.pager.member_budget,
        "state_dir": str(state_dir),
    }


def server_for(emulator: Emulator, tls: TlsFiles) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(emulator),
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
        http=ResettableHttpToolsProtocol,
        lifespan="off",
        # The process's own logging stands (idsync.logs in the CLI, pytest's in tests):
        # uvicorn's default config would give its loggers plain-text handlers.
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


async def serve(
    emulator: Emulator,
    host: str,
    port: int,
    state_dir: Path,
    on_ready: Callable[[dict[str, Any]], None],
) -> None:
    tls = make_certificates(state_dir, host)
    sock = bind(host, port)
    url = url_for(host, sock.getsockname()[1])
    server = server_for(emulator, tls)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # re-raise why it stopped
            return
        await asyncio.sleep(0.01)
    on_ready(describe(emulator, url, tls, state_dir))
    await task


class RunningEmulator:
    """The emulator in a background thread of this process (for in-process tests).

    >>> with RunningEmulator(EmulatorConfig()) as running:  # doctest: +SKIP
    ...     running.info["url"]
    """

    def __init__(
        self, config: EmulatorConfig, host: str = "127.0.0.1", state_dir: Path | None = None
    ) -> None:
        self.emulator = build_emulator(config)
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="idsync-emulator-"))
        self.tls = make_certificates(self.state_dir, host)
        self._sock = bind(host, 0)
        self.url = url_for(host, self._sock.getsockname()[1])
        self.info = describe(self.emulator, self.url, self.tls, self.state_dir)
        self._server = server_for(self.emulator, self.tls)
        self._thread = threading.Thread(target=self._run, name="idsync-emulator", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self) -> RunningEmulator:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
