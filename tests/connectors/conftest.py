"""A real ``idsync emulator`` process per test (HTTPS, its own CA), and helpers to drive it.

The connector under test talks to it exactly as to Entra ID; the tests change the
directory through the emulator's Graph write API with its admin token, and inject
faults through its ``/_emulator/`` endpoints.
"""

from __future__ import annotations

import selectors
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from idsync.connectors.entra import EntraSettings, EntraSource
from idsync.connectors.retry import RetryPolicy

# Tiny delays so retries cost milliseconds; Retry-After still comes from the server.
FAST_RETRY = RetryPolicy(
    attempts=4, backoff_initial=0.01, backoff_max=0.05, throttle_retries=3, retry_after_max=5
)


@dataclass
class Emulator:
    info: dict[str, Any]
    process: subprocess.Popen[bytes]
    log_path: Path
    admin: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.admin = httpx.Client(
            base_url=self.info["graph_url"],
            verify=ssl.create_default_context(cafile=self.info["ca_file"]),
            headers={"Authorization": f"Bearer {self.info['admin_token']}"},
            timeout=30,
        )

    def settings(self, **overrides: Any) -> EntraSettings:
        base = EntraSettings(
            tenant_id=self.info["tenant_id"],
            client_id=self.info["client_id"],
            client_secret=self.info["client_secret"],
            integration="contoso-entra",
            authority=self.info["authority"],
            graph_url=self.info["graph_url"],
            ca_file=self.info["ca_file"],
            retry=FAST_RETRY,
            timeout=5,
        )
        return replace(base, **overrides)

    def source(self, sleep: Callable[[float], None] | None = None, **overrides: Any) -> EntraSource:
        settings = self.settings(**overrides)
        return EntraSource(settings) if sleep is None else EntraSource(settings, sleep=sleep)

    def all(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a Graph collection, read with the admin token (plain GETs)."""
        items: list[dict[str, Any]] = []
        response = self.admin.get(path, params=params)
        while True:
            response.raise_for_status()
            body = response.json()
            items.extend(body["value"])
            if not body.get("@odata.nextLink"):
                return items
            response = self.admin.get(body["@odata.nextLink"])

    def write(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.admin.request(method, path, json=body)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response

    def create_user(self, name: str) -> str:
        """A new enabled user in the tenant's own domain; its id."""
        domain = self.info["tenant_domain"]
        body = {
            "accountEnabled": True,
            "displayName": name,
            "mailNickname": name,
            "userPrincipalName": f"{name}@{domain}",
            "passwordProfile": {
                "forceChangePasswordNextSignIn": True,
                "password": "xWwvJ]6NMw+bWH",
            },
        }
        return str(self.write("POST", "/v1.0/users", body).json()["id"])

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_emulator(log_path: Path, *, users: int, groups: int, seed: int, **extra: int) -> Emulator:
    sizes = [
        "--port",
        "0",
        "--users",
        str(users),
        "--groups",
        str(groups),
        "--seed",
        str(seed),
        "--json",
    ]
    sizes += ["--state-dir", str(log_path.with_suffix(".state"))]  # TLS files stay in tmp_path
    for option, value in extra.items():
        sizes += [f"--{option.replace('_', '-')}", str(value)]
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "idsync", "emulator", "--host", "127.0.0.1", *sizes],
            stdout=subprocess.PIPE,
            stderr=log,
        )
    line = _first_line(process, timeout=60)
    if not line:
        process.kill()
        raise RuntimeError(f"idsync emulator did not start:\n{log_path.read_text()}")
    return Emulator(orjson.loads(line), process, log_path)


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.2):
                return process.stdout.readline().strip()
    return b""


def stop_emulator(emulator: Emulator) -> None:
    emulator.admin.close()
    emulator.process.terminate()
    try:
        emulator.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emulator.process.kill()
        emulator.process.wait()


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def start(users: int = 30, groups: int = 4, seed: int = 1, **extra: int) -> Emulator:
        log_path = tmp_path / f"emulator-{len(started)}.log"
        emulator = start_emulator(log_path, users=users, groups=groups, seed=seed, **extra)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        stop_emulator(emulator)


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory()
