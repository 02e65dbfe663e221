"""A real emulator per test (or per session, for read-only tests): ``idsync emulator --json``.

Each fixture starts the CLI as a subprocess, reads its one JSON line and talks to it over
real HTTPS, trusting only the CA file it printed.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest


@dataclass
class Emulator:
    info: dict[str, Any]
    process: subprocess.Popen[str]
    clients: list[httpx.Client] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.info[key]

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.info["ca_file"])

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(
            base_url=self.info["graph_url"],
            verify=self.ssl_context,
            headers=headers,
            timeout=kwargs.pop("timeout", 30),
            **kwargs,
        )
        self.clients.append(client)
        return client

    def admin(self) -> httpx.Client:
        return self.client(self.info["admin_token"])

    def token_request(self, **form: str) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.info["client_id"],
            "client_secret": self.info["client_secret"],
            "scope": "https://graph.microsoft.com/.default",
            **form,
        }
        with httpx.Client(verify=self.ssl_context) as client:
            return client.post(f"{self.info['authority']}/oauth2/v2.0/token", data=data)

    def app_token(self) -> str:
        response = self.token_request()
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def msal_app(self, secret: str | None = None, client_id: str | None = None) -> Any:
        """A fresh msal client (no cached token), exactly as a connector builds one."""
        return msal.ConfidentialClientApplication(
            client_id or self.info["client_id"],
            client_credential=secret or self.info["client_secret"],
            authority=self.info["authority"],
            verify=self.info["ca_file"],
            instance_discovery=False,
        )


def start(tmp_path: Path, *args: str) -> Emulator:
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idsync",
                "emulator",
                "--json",
                "--state-dir",
                str(tmp_path),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError(f"idsync emulator exited before it was ready:\n{log.read_text()}")
    return Emulator(json.loads(line), process)


def stop(emulator: Emulator) -> None:
    for client in emulator.clients:
        client.close()
    emulator.process.send_signal(signal.SIGINT)
    try:
        emulator.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emulator.process.kill()
        emulator.process.wait()


@pytest.fixture(autouse=True)
def _msal_honours_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests (under msal) lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the
    # `verify=` msal was given; some machines set them globally.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def start_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def factory(*args: str) -> Emulator:
        emulator = start(tmp_path_factory.mktemp("emulator"), *args)
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        stop(emulator)


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """A small tenant of its own (tests may change it)."""
    return start_emulator("--users", "50", "--groups", "20", "--seed", "7")


@pytest.fixture(scope="session")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A tenant tests only read: 50 users, 20 groups, members split over pages of 10."""
    emulator = start(
        tmp_path_factory.mktemp("shared"),
        *("--users", "50", "--groups", "20", "--seed", "3", "--members-per-page", "10"),
    )
    yield emulator
    stop(emulator)


def read_round(
    client: httpx.Client, url: str, page_size: int | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the end: (all objects, the deltaLink, number of pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    objects: list[dict[str, Any]] = []
    pages = 0
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        objects.extend(body["value"])
        if "@odata.nextLink" in body:
            assert "@odata.deltaLink" not in body
            url = body["@odata.nextLink"]
            continue
        return objects, body["@odata.deltaLink"], pages


def merge_groups(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge a groups round as the docs tell clients to (a group may come in chunks)."""
    merged: dict[str, dict[str, Any]] = {}
    for obj in objects:
        entry = merged.setdefault(obj["id"], {**obj, "members@delta": []})
        entry["members@delta"] = entry["members@delta"] + obj.get("members@delta", [])
    return merged
