"""Logs as a log pipeline reads them: with IDSYNC_LOG_FORMAT=json every line that any
idsync process writes on stderr (its own, uvicorn's, alembic's, httpx's, procrastinate's)
is one JSON object with the same fields, and no line holds a Graph paging cursor or
a secret. Every test runs real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.store.database import Database
from tests.commands import run_idsync
from tests.conftest import Server, _postgres_schema, free_port, wait_for
from tests.entra_emulator import start_emulator
from tests.sync.conftest import Emulator, connect

FIELDS = {"timestamp", "level", "logger", "event"}


def json_env(level: str = "debug", **extra: str) -> dict[str, str]:
    return {**os.environ, "IDSYNC_LOG_FORMAT": "json", "IDSYNC_LOG_LEVEL": level, **extra}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line parsed as a JSON object carrying the common fields (fails on any other)."""
    lines = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n--- all of it:\n{text}") from None
        assert isinstance(entry, dict) and entry.keys() >= FIELDS, line
        lines.append(entry)
    return lines


def loggers(lines: list[dict[str, Any]]) -> set[str]:
    return {entry["logger"] for entry in lines}


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_fresh_serve_with_workers_logs_only_json_lines(tmp_path: Path) -> None:
    """Migrations (alembic), the supervisor, and uvicorn inside each worker process."""
    port = free_port()
    log_path = tmp_path / "serve.err"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "idsync", "serve", "--port", str(port), "--workers", "2",
             "--database", f"sqlite:///{tmp_path / 'fresh.db'}"],
            env=json_env(), stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url, process), "idsync serve to answer /healthz")
        # Not HTTP: uvicorn's parser in a worker process logs a warning about it.
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"\x00\x01 not http\r\n\r\n")
            raw.recv(1024)
        wait_for(lambda: "Invalid HTTP" in log_path.read_text(), "uvicorn's warning")
    finally:
        stop(process)
    lines = json_lines(log_path.read_text())
    assert {"idsync.store.migrate", "idsync.serve", "idsync.http", "uvicorn.error"} <= loggers(
        lines
    )
    assert any(e["event"] == "database schema upgraded" for e in lines)


def test_db_upgrade_logs_the_migration_as_json(tmp_path: Path) -> None:
    result = run_idsync(
        ["db", "upgrade",
         "--database", f"sqlite:///{tmp_path / 'new.db'}"],
        env=json_env("info"), text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = json_lines(result.stderr)
    assert [e["event"] for e in lines] == ["database schema upgraded"]


@pytest.fixture
def paging_emulator(tmp_path: Path) -> Iterator[Emulator]:
    """Small delta pages, so that a cycle follows many $skiptoken nextLinks."""
    handle = start_emulator(
        tmp_path / "emulator.log", Emulator, users=30, groups=4, seed=5, members_per_page=5
    )
    yield handle
    handle.stop()


def test_a_sync_run_logs_json_without_paging_cursors_or_secrets(
    database: Database, server: Server, paging_emulator: Emulator
) -> None:
    connected = connect(database, server, paging_emulator, "--page-size", "5")
    stderr = ""
    for _ in range(2):  # the first cycle pages with $skiptoken, the second reads a $deltatoken
        result = run_idsync(
            ["sync", "run", connected.integration_id,
             "--database", connected.database_url, "--json"],
            env=json_env(), text=True, timeout=300, check=True,
        )  # fmt: skip
        assert json.loads(result.stdout)["status"] == "Active"
        stderr += result.stderr
    lines = json_lines(stderr)
    assert [e["event"] for e in lines].count("cycle finished") == 2
    everything = stderr + paging_emulator.log()
    json_lines(paging_emulator.log())
    for hidden in ("skiptoken", "deltatoken", paging_emulator.info["client_secret"]):
        assert hidden not in everything
    assert connected.org.token not in everything
    connected.scim.close()


def test_the_emulator_logs_uvicorn_lines_as_json(paging_emulator: Emulator) -> None:
    host, port = paging_emulator.info["url"].removeprefix("https://").split(":")
    with (
        socket.create_connection((host, int(port))) as raw,
        paging_emulator.tls.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"\x00\x01 not http\r\n\r\n")  # uvicorn's parser warns about it
        tls.recv(1024)
    wait_for(lambda: "Invalid HTTP" in paging_emulator.log(), "uvicorn's warning")
    assert "uvicorn.error" in loggers(json_lines(paging_emulator.log()))


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _postgres_schema()


def test_a_worker_logs_procrastinate_lines_as_json(pg_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "worker.err"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "idsync", "worker", "--database", pg_url,
             "--poll-seconds", "1"],
            env=json_env("info"), stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        wait_for(lambda: "Starting worker" in log_path.read_text(), "the worker to start")
    finally:
        stop(process)
    lines = json_lines(log_path.read_text())
    assert "procrastinate.worker.worker" in loggers(lines)


def test_serve_takes_the_log_format_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.err"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "idsync", "serve", "--port", str(port),
             "--database", f"sqlite:///{tmp_path / 'c.db'}"],
            env={**os.environ, "IDSYNC_LOG_FORMAT": "console"},
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        wait_for(lambda: _healthy(f"http://127.0.0.1:{port}", process), "idsync serve")
    finally:
        stop(process)
    listening = [line for line in log_path.read_text().splitlines() if "listening" in line]
    assert listening and not listening[0].startswith("{"), log_path.read_text()


def _healthy(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "idsync serve exited"
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_no_log_line_carries_a_secret_whoever_logs_it() -> None:
    """Issue 9 item 4: a secret field, a URL's password, a cursor or a header is redacted
    in structlog's events and in the standard library's records alike; nothing else is."""
    script = (
        "import logging\n"
        "from idsync.logs import configure, get_logger\n"
        "configure('info', 'json')\n"
        "get_logger('idsync.test').info('bind', password='hunter2', code='IDS-502-020',\n"
        "    reason='Connection refused', url='ldap://cn=admin:pa55word@dc1:389')\n"
        "logging.getLogger('lib').warning('GET %s with %s',\n"
        "    'https://graph/v1.0/users/delta?$skiptoken=CURSOR&client_secret=CS',\n"
        "    {'Authorization': 'Bearer TOKEN'})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = json_lines(result.stderr)
    for secret in ("hunter2", "pa55word", "CURSOR", "CS&", "TOKEN"):
        assert secret not in result.stderr
    assert lines[0]["code"] == "IDS-502-020"
    assert lines[0]["reason"] == "Connection refused"
    assert lines[0]["url"] == "ldap://cn=admin:<redacted>@dc1:389"
