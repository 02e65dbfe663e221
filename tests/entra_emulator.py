"""A real ``idsync emulator`` process for tests: HTTPS with its own CA, seeded, and
plain Graph calls to it with its admin token (how tests change the directory and
inject faults). The connector tests and the end-to-end sync tests share it."""

from __future__ import annotations

import selectors
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson


@dataclass
class EmulatorProcess:
    info: dict[str, Any]
    process: subprocess.Popen[bytes]
    log_path: Path
    tls: ssl.SSLContext = field(init=False)
    """Trusts the emulator's self-signed certificate."""
    admin: httpx.Client = field(init=False)
    """Graph with the tenant admin's token."""

    def __post_init__(self) -> None:
        self.tls = ssl.create_default_context(cafile=self.info["ca_file"])
        self.admin = httpx.Client(
            base_url=self.info["graph_url"],
            verify=self.tls,
            headers={"Authorization": f"Bearer {self.info['admin_token']}"},
            timeout=30,
        )

    def all(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a Graph collection (or delta round), following nextLinks."""
        items: list[dict[str, Any]] = []
        # No params= when there are none: httpx would drop a query string in ``path``.
        response = self.admin.get(path, params=params) if params else self.admin.get(path)
        while True:
            assert response.status_code == 200, f"GET {path}: {response.text}"
            body = response.json()
            items.extend(body["value"])
            if not body.get("@odata.nextLink"):
                return items
            response = self.admin.get(body["@odata.nextLink"])

    def write(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.admin.request(method, path, json=body)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response

    def fault(self, **spec: Any) -> None:
        """Queue a fault (see ``idsync.emulator.faults``): status, hang or reset."""
        self.write("POST", "/_emulator/faults", spec)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.admin.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


E = TypeVar("E", bound=EmulatorProcess)


def start_emulator(
    log_path: Path,
    kind: type[E],
    *,
    users: int,
    groups: int,
    seed: int,
    redirect_uris: Sequence[str] = (),
    **extra: int,
) -> E:
    """Start ``idsync emulator --json`` and wait for its one line of connection details;
    ``redirect_uris`` are registered on the sync app (e.g. idsync serve's consent callback)."""
    args = ["--port", "0", "--users", str(users), "--groups", str(groups), "--seed", str(seed)]
    args += ["--state-dir", str(log_path.with_suffix(".state")), "--json"]
    for uri in redirect_uris:
        args += ["--redirect-uri", uri]
    for option, value in extra.items():
        args += [f"--{option.replace('_', '-')}", str(value)]
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "idsync", "emulator", "--host", "127.0.0.1", *args],
            stdout=subprocess.PIPE,
            stderr=log,
        )
    line = first_line(process, timeout=60)
    if not line:
        process.kill()
        raise RuntimeError(f"idsync emulator did not start:\n{log_path.read_text()}")
    return kind(orjson.loads(line), process, log_path)


def first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The process's first line on stdout (stripped); empty if it ends or ``timeout``
    passes first."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.2):
                return process.stdout.readline().strip()
    return b""
