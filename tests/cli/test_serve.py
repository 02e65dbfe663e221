"""``idsync serve`` where it cannot listen: the catalogue's one line, exit 1, advice that works."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.test_cli import assert_one_line_error
from tests.conftest import free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "idsync", "serve", "--database",
         f"sqlite:///{tmp_path / 'idsync.db'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("workers", ["1", "3"])
def test_serve_on_a_busy_port_says_so_with_the_fix(
    busy_port: int, tmp_path: Path, workers: str
) -> None:
    result = serve(tmp_path, "--port", str(busy_port), "--workers", workers)
    assert_one_line_error(result, "IDS-409-110")
    assert result.returncode == 1
    assert f"127.0.0.1:{busy_port}" in result.stderr
    suggested = re.search(r"--port (\d+)", result.stderr)
    assert suggested, result.stderr
    # Nothing happened before the port was known to be ours: not even a migration.
    assert not (tmp_path / "idsync.db").exists()


def test_the_port_serve_suggests_serves(busy_port: int, tmp_path: Path) -> None:
    result = serve(tmp_path, "--port", str(busy_port))
    suggested = re.search(r"--port (\d+)", result.stderr)
    assert suggested, result.stderr
    port = suggested.group(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "idsync", "serve", "--port", port,
         "--database", f"sqlite:///{tmp_path / 'idsync.db'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_on_an_address_of_another_machine_says_so(tmp_path: Path) -> None:
    # TEST-NET-1 (RFC 5737): never an address of this machine.
    result = serve(tmp_path, "--host", "192.0.2.1", "--port", str(free_port()))
    assert_one_line_error(result, "IDS-400-111")
    assert "--host" in result.stderr


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert process.poll() is None, "idsync serve exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("idsync serve did not answer /healthz")
