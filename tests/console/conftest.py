"""The console in a real browser: ``idsync serve`` and ``idsync emulator`` as processes,
Debian's Chromium driven by Playwright (never a downloaded browser), operators made with
``idsync admin create`` as an administrator would.

Screenshots of every step land in ``test-artefacts/console/`` (or
$IDSYNC_TEST_ARTEFACTS/console), for people to look at after a run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Page, sync_playwright

from idsync.config import Settings
from idsync.manage import integrations, orgs
from idsync.store.database import open_database
from idsync.store.integrations import IntegrationRecord
from idsync.store.migrate import upgrade
from tests.conftest import Server, free_port, start_server, stop_server
from tests.entra_emulator import EmulatorProcess, start_emulator

os.environ.setdefault("IDSYNC_SECRET_KEY", Fernet.generate_key().decode())

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("IDSYNC_TEST_ARTEFACTS", ROOT / "test-artefacts")) / "console"
PASSWORD = "correct horse battery staple"


def idsync_admin(database_url: str, email: str, role: str, org: str | None = None) -> None:
    """``idsync admin create`` with the password on stdin, as a provisioning script does."""
    args = ["admin", "create", email, "--role", role, "--database", database_url]
    if org:
        args += ["--org", org]
    subprocess.run(
        [sys.executable, "-m", "idsync", *args], input=PASSWORD + "\n", text=True, check=True,
        capture_output=True, timeout=60,
    )  # fmt: skip


@dataclass
class Stack:
    server: Server
    emulator: EmulatorProcess
    database_url: str


def start_stack(
    folder: Path, callback: str, env: Callable[[EmulatorProcess], dict[str, str]] | None = None,
    **seeded: int,
) -> Stack:  # fmt: skip
    """An emulator (seeded as given) whose app sends browsers back to ``callback`` on a
    fresh SQLite hub, served with that public URL (``env``: what else serve is given,
    from the emulator's details)."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    emulator = start_emulator(
        folder / "emulator.log", EmulatorProcess, redirect_uris=[public + callback], **seeded
    )
    url = f"sqlite:///{folder / 'idsync.db'}"
    extra = env(emulator) if env else None
    server = start_server(url, folder / "serve.log", "--public-url", public, port=port, env=extra)
    return Stack(server, emulator, url)


def stop_stack(stack: Stack) -> None:
    stop_server(stack.server)
    stack.emulator.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A fresh SQLite hub served with a public URL the emulator sends consent back to."""
    handle = start_stack(
        tmp_path_factory.mktemp("console"), "/consent/callback", users=30, groups=4, seed=11
    )
    yield handle
    stop_stack(handle)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(
        base_url=stack.server.url,
        ignore_https_errors=True,  # the emulator's own CA: Chromium does not know it
        permissions=["clipboard-read", "clipboard-write"],
    )
    opened = context.new_page()
    yield opened
    context.close()


class Steps:
    """Screenshots of a walk, numbered in order."""

    def __init__(self, name: str) -> None:
        self.folder = ARTEFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def shot(self, page: Page, what: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{what}.png"), full_page=True)


def new_org_name() -> str:
    return f"Org {uuid.uuid4().hex[:8]}"


def entra_integration(stack: Stack, org_name: str, name: str) -> tuple[str, IntegrationRecord]:
    """A new organisation and an Entra ID integration to the stack's emulator, added as the
    console's form adds one: (org id, integration)."""
    info = stack.emulator.info
    db = open_database(stack.database_url)
    upgrade(db)
    org = orgs.create_org(db, org_name, actor="tests").id
    record = integrations.add_from_form(
        db, Settings.from_env(), org_id=org, kind="entra", name=name,
        values={"tenant_id": info["tenant_id"], "client_id": info["client_id"],
                "client_secret": info["client_secret"], "authority": info["url"],
                "graph_url": info["graph_url"], "ca_file": info["ca_file"]},
        actor="tests",
    )  # fmt: skip
    db.dispose()
    return org, record


def http(stack_or_server: Server) -> httpx.Client:
    return httpx.Client(base_url=stack_or_server.url, timeout=30, follow_redirects=False)
