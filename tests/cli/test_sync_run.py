"""``idsync sync run`` as scripts and people run it: its exit code says whether the job
is healthy after the run, a paused job stays paused, and a progress bar is drawn only
on a terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.commands import run_idsync

# The credentials key of these commands (no key file is written into the checkout).
KEY = Fernet.generate_key().decode()
ENV = {**os.environ, "COLUMNS": "80", "IDSYNC_SECRET_KEY": KEY}
ENV.pop("FORCE_COLOR", None)


@dataclass
class Hub:
    database: str
    org: str
    users: Path
    integration: str

    def run(self, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
        return run_idsync(
            [*args, "--database", self.database],
            text=True,
            timeout=120,
            env={**ENV, "COLUMNS": str(columns)},
            check=False,
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def write_users(self, count: int) -> None:
        rows = [f"u{n},user{n}@example.org,User {n}" for n in range(count)]
        self.users.write_text("\n".join(["id,userName,displayName", *rows]) + "\n")


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    """An organisation and a file integration (name with a space) reading 5 users."""
    hub = Hub(f"sqlite:///{tmp_path / 'run.db'}", "", tmp_path / "users.csv", "")
    hub.org = hub.json("org", "create", "Contoso")["id"]
    hub.write_users(5)
    added = hub.json(
        "integration", "add", "file", "--org", hub.org, "--name", "HR export",
        "--users", str(hub.users), "--deletion-threshold", "2",
    )  # fmt: skip
    hub.integration = added["id"]
    return hub


# --- item 18: the progress bar ------------------------------------------------------------------


def _run_on_a_terminal(hub: Hub, *args: str) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal; its exit code and what it drew there."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "idsync", *args, "--database", hub.database],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=ENV,
    )
    os.close(follower)
    drawn = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return process.wait(timeout=60), drawn.decode(errors="replace")


def test_no_progress_bar_when_stderr_is_not_a_terminal(hub: Hub) -> None:
    result = hub.run("sync", "run", hub.integration)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no frame of a bar, no escape sequence
    assert "Job status: Active" in result.stdout


def test_a_progress_bar_on_a_terminal(hub: Hub) -> None:
    code, drawn = _run_on_a_terminal(hub, "sync", "run", hub.integration)
    assert code == 0, drawn
    assert "5 read" in drawn and "users" in drawn


# --- item 14: a paused job ----------------------------------------------------------------------


def test_a_paused_job_is_not_run_unless_asked_and_stays_paused(hub: Hub) -> None:
    hub.json("sync", "pause", hub.integration)
    refused = hub.run("sync", "run", "HR export")
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert line.startswith("error IDS-409-015: ")
    # Both ways out: the command that resumes it, runnable as printed, or the flag.
    assert f"idsync sync resume {hub.integration}" in line
    assert line.endswith("add --even-if-paused to the command.")
    status = hub.json("sync", "status", hub.integration)
    assert (status["status"], status["last_cycle_id"]) == ("Paused", None)

    ran = hub.json("sync", "run", "HR export", "--even-if-paused")
    assert (ran["create"], ran["status"]) == (5, "Paused")
    status = hub.json("sync", "status", hub.integration)
    assert status["status"] == "Paused"
    assert status["last_cycle_id"] == ran["cycle_id"]
    assert status["reason"] == "paused by an administrator"
    events = hub.json("audit", "list", "--org", hub.org)
    assert [e["activity"] for e in events][:2] == ["Run paused sync job", "Pause sync job"]
    assert events[0]["actor"] == "cli"


def test_a_paused_job_run_anyway_stays_paused_when_its_cycle_fails(hub: Hub) -> None:
    hub.json("sync", "pause", hub.integration)
    hub.users.unlink()
    failed = hub.run("sync", "run", hub.integration, "--even-if-paused", "--json")
    report = json.loads(failed.stdout)
    assert (report["status"], report["reason_code"]) == ("Paused", "IDS-503-040")
    assert hub.json("sync", "status", hub.integration)["status"] == "Paused"


# --- item 16: exit codes ------------------------------------------------------------------------


def _run_json(hub: Hub, *args: str) -> tuple[int, dict[str, Any]]:
    result = hub.run("sync", "run", hub.integration, "--json", *args)
    return result.returncode, json.loads(result.stdout)  # printed whatever the exit code


def test_exit_code_5_after_a_failed_cycle(hub: Hub) -> None:
    hub.users.unlink()
    code, report = _run_json(hub)
    assert code == 5
    assert (report["outcome"], report["status"]) == ("failed", "NotRun")
    assert report["reason_code"] == "IDS-503-040"


def test_exit_code_3_in_quarantine(hub: Hub) -> None:
    hub.users.unlink()
    codes = [_run_json(hub)[0] for _ in range(5)]  # five failed cycles in a row: quarantine
    assert codes == [5, 5, 5, 5, 3]
    assert hub.json("sync", "status", hub.integration)["status"] == "Quarantine"


def test_exit_code_4_with_deletions_waiting_for_approval(hub: Hub) -> None:
    assert _run_json(hub)[0] == 0
    hub.write_users(2)  # three gone: more than the threshold of 2
    code, report = _run_json(hub)
    assert code == 4
    assert (report["status"], report["reason_code"]) == ("Quarantine", "IDS-409-010")
    assert report["stagedDelete"] == 3
    approved = hub.run("sync", "approve-deletes", hub.integration)
    assert approved.returncode == 0, approved.stderr
    assert _run_json(hub)[0] == 0


def test_a_preview_exits_with_the_jobs_health_and_changes_nothing(hub: Hub) -> None:
    code, report = _run_json(hub, "--preview")
    assert (code, report["outcome"], report["status"]) == (0, "preview", "NotRun")
