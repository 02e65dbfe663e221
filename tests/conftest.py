"""Real servers for the tests: ``idsync serve`` as a process, on SQLite and on PostgreSQL.

Every test that takes ``scim`` (or ``server``) runs once per backend. PostgreSQL
is the one at $IDSYNC_TEST_POSTGRES_URL (default: the local server, database
``test``); each test session works in a fresh schema of it and drops it after.
Without a reachable PostgreSQL those tests are skipped with the reason, unless
IDSYNC_REQUIRE_POSTGRES=1 (as in CI), which makes that a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from idsync.config import Settings
from idsync.manage import integrations, orgs, tokens
from idsync.manage.integrations import IntegrationOptions
from idsync.store.database import Database, open_database
from idsync.store.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "IDSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("IDSYNC_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: a worker per core and one more. The tests wait about a fifth of their
    time on the servers and processes they start (idsync, slapd, Samba, Chromium); on 2
    cores a third worker, with ``--dist worksteal``, took the suite from 18.6 to 16.6
    minutes."""
    return len(os.sched_getaffinity(0)) + 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'idsync.db'}"
        return
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    schema = f"idsync_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        reason = (
            f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc.orig).strip().splitlines()[0]}"
        )
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def database(database_url: str) -> Database:
    db = open_database(database_url)
    upgrade(db)
    return db


@dataclass
class Server:
    url: str
    database_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def log_lines_with(self, text: str, timeout: float = 5.0) -> list[str]:
        """The log lines holding ``text``, once there are any: the server writes a
        request's line after its response has gone, so a fast client may look too early."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log_lines() if text in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def start_server(
    database_url: str,
    log_path: Path,
    *extra: str,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    port = port or free_port()
    env = {**os.environ, **(env or {}), "IDSYNC_DATABASE_URL": database_url}
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "idsync",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *extra,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"idsync serve exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, database_url, log_path, process)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"idsync serve did not become ready:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(
    database: Database, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    handle = start_server(database_url, tmp_path_factory.mktemp("server") / "serve.log")
    yield handle
    stop_server(handle)


@dataclass
class Org:
    id: str
    token: str
    token_id: str
    scim_url: str


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Poll ``predicate`` until it holds; an AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def add_file_integration(
    database: Database,
    settings: dict[str, Any],
    *,
    org_name: str,
    options: IntegrationOptions | None = None,
) -> str:
    """A file integration of a new org, added by the service layer (no CLI process); its id."""
    org = orgs.create_org(database, f"{org_name} {uuid.uuid4().hex[:10]}", actor="tests")
    return integrations.add_integration(
        database,
        Settings.from_env(),
        org_id=org.id,
        kind="file",
        name="HR file",
        settings=settings,
        secrets={},
        options=options or IntegrationOptions(),
        actor="tests",
    ).id


def make_org(database: Database, server: Server, name: str | None = None) -> Org:
    record = orgs.create_org(database, name or f"Org {uuid.uuid4().hex[:10]}", actor="tests")
    issued = tokens.issue(database, record.id, "tests", actor="tests")
    return Org(record.id, issued.secret, issued.record.id, f"{server.url}/scim/{record.id}/v2")


@pytest.fixture
def org(database: Database, server: Server) -> Org:
    return make_org(database, server)


@pytest.fixture
def scim(org: Org) -> Iterator[httpx.Client]:
    """An HTTP client for one fresh organisation's SCIM API, authenticated."""
    with httpx.Client(
        base_url=org.scim_url,
        headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/scim+json"},
        timeout=30,
    ) as client:
        yield client


@dataclass
class PrivateDatabase:
    """A database of its own (a new SQLite file, or a new PostgreSQL schema), migrated."""

    url: str
    db: Database


@pytest.fixture(params=BACKENDS)
def private_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PrivateDatabase]:
    """For tests that change the schema or the server's settings: nothing else shares it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'private.db'}"
        db = open_database(url)
        upgrade(db)
        yield PrivateDatabase(url, db)
        return
    yield from _private_postgres()


@pytest.fixture
def postgres_database() -> Iterator[PrivateDatabase]:
    """A PostgreSQL schema of its own, migrated: for what only PostgreSQL does (two
    transactions at once, its statistics)."""
    yield from _private_postgres()


def _private_postgres() -> Iterator[PrivateDatabase]:
    for url in _postgres_schema():
        db = open_database(url)
        upgrade(db)
        yield PrivateDatabase(url, db)
        db.dispose()
