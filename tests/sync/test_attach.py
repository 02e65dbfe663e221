"""``idsync sync run`` while another process runs the job's cycle: it follows that cycle
to its end and reports it (output and exit code) as if it had run it, instead of
refusing with IDS-409-014 or reporting a cycle of nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from tests.sync.conftest import Connected, Emulator, idsync

# Fields of a report that depend on which process measured them.
MEASURED = {"seconds", "started_at", "finished_at"}


def _start(connected: Connected, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "idsync", "sync", "run", connected.integration_id,
         "--database", connected.database_url, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip


def _wait_running_with_users_read(connected: Connected, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = connected.status()
        if status["running_since"] is not None and status["resumable"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"the first cycle never started: {status}")


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=180)
    return process.returncode, stdout, stderr


def _same(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in MEASURED}


def test_a_second_sync_run_follows_the_running_cycle_to_its_result(
    connected: Connected, emulator: Emulator
) -> None:
    # The groups' read waits 8 s: the first cycle is running, its users read and saved.
    emulator.fault(path="/v1.0/groups/delta", action="hang", seconds=8, count=1)
    first = _start(connected, "--json")
    _wait_running_with_users_read(connected)
    scripted = _start(connected, "--json")
    person = _start(connected)

    first_code, first_out, first_err = _finish(first)
    code, out, err = _finish(scripted)
    person_code, person_out, person_err = _finish(person)

    started = json.loads(first_out)
    assert (first_code, started["status"]) == (0, "Active"), first_err
    assert started["create"] == emulator.info["users"] + emulator.info["groups"]
    followed = json.loads(out)
    assert "IDS-409-014" not in err
    assert code == first_code
    assert _same(followed) == _same(started)
    assert set(followed["seconds"]) >= set(started["seconds"]) - {"cycle"}

    # A person sees the same summary: the cycle's id, its counts and the job's status.
    assert person_code == 0, person_err
    assert "already running" in person_err and "following it" in person_err
    assert started["cycle_id"] in person_out.split()
    assert "Job status: Active" in person_out
    assert f"create {started['create']}" in " ".join(person_out.split())
    # Nothing ran twice: one cycle in all.
    assert (
        idsync(connected.database_url, "sync", "status", connected.integration_id)["last_cycle_id"]
        == started["cycle_id"]
    )
