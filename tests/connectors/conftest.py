"""A real ``idsync emulator`` process per test (HTTPS, its own CA), and helpers to drive it.

The connector under test talks to it exactly as to Entra ID; the tests change the
directory through the emulator's Graph write API with its admin token, and inject
faults through its ``/_emulator/`` endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from idsync.connectors.entra import EntraSettings
from idsync.connectors.entra.source import EntraSource
from idsync.connectors.retry import RetryPolicy
from tests.entra_emulator import EmulatorProcess, start_emulator
from tests.scim_peer import Peer, Proxy, start_proxy, start_scim2_server

# Tiny delays so retries cost milliseconds; Retry-After still comes from the server.
FAST_RETRY = RetryPolicy(
    attempts=4, backoff_initial=0.01, backoff_max=0.05, throttle_retries=3, retry_after_max=5
)


class Emulator(EmulatorProcess):
    """The emulator plus the connector settings that point at it."""

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


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def start(users: int = 30, groups: int = 4, seed: int = 1, **extra: int) -> Emulator:
        log_path = tmp_path / f"emulator-{len(started)}.log"
        emulator = start_emulator(
            log_path, Emulator, users=users, groups=groups, seed=seed, **extra
        )
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory()


# --- SCIM applications: a real scim2-server, and a recording proxy in front of it ----------


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Peer]:
    handle = start_scim2_server(tmp_path)
    yield handle
    handle.stop()


@pytest.fixture
def proxy(peer: Peer) -> Iterator[Proxy]:
    handle = start_proxy(peer.url)
    yield handle
    handle.stop()
