"""``idsync demo``: the incident on one machine, as a new administrator runs it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.commands import run_idsync
from tests.entra_emulator import first_line


def test_the_demo_syncs_a_tenant_then_shows_the_incident(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    demo = subprocess.Popen(
        [
            sys.executable, "-m", "idsync", "demo", "--json", "--users", "30", "--groups", "4",
            "--dir", str(tmp_path / "demo"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    try:
        details = json.loads(_first_line(demo))
        assert {"hub_url", "org_id", "integration_id", "emulator_url"} <= details.keys()
        assert details["first_cycle"]["status"] == "Active"
        users = httpx.get(
            f"{details['scim_url']}/Users",
            headers={"Authorization": f"Bearer {details['token']}"},
            timeout=10,
        ).json()
        assert users["totalResults"] == 30

        def idsync(*args: str) -> subprocess.CompletedProcess[str]:
            return run_idsync(args, text=True, env=env, timeout=120)

        broke = idsync("demo", "break", "remove-service-principal")
        assert broke.returncode == 0, broke.stderr
        # The commands it prints run as printed.
        commands = [line.strip() for line in broke.stdout.splitlines() if line.startswith("  ")]
        ran = idsync(*commands[0].split()[1:])
        assert ran.returncode == 3, ran.stderr  # the job is in Quarantine
        asked = idsync(*commands[1].split()[1:], "--json")
        assert asked.returncode == 1
        [finding] = json.loads(asked.stdout)["findings"]
        assert finding["cause"] == "service_principal_removed"
        assert finding["evidence"]["who"].startswith("not known yet")

        # The administrator's part (consent), then the callback finishes the repair.
        fixed = idsync("demo", "fix", "remove-service-principal")
        assert fixed.returncode == 0, fixed.stderr
        assert "consent callback answered 200" in fixed.stdout
        assert _printed(fixed)[-1].startswith("idsync validate")
        for command in _printed(fixed)[1:]:  # the first is the consent link
            assert idsync(*shlex.split(command)[1:]).returncode == 0, command

        for cause, finding_cause in (
            ("expire-secret", "client_secret_expired"),
            ("disable-app", "application_disabled"),
        ):
            run, ask = _printed(idsync("demo", "break", cause))
            assert idsync(*shlex.split(run)[1:]).returncode != 0
            asked = idsync(*shlex.split(ask)[1:], "--json")
            assert json.loads(asked.stdout)["findings"][0]["cause"] == finding_cause
            fixed = idsync("demo", "fix", cause)
            assert fixed.returncode == 0, fixed.stderr
            for command in _printed(fixed):  # new secret, restart, run, validate: as printed
                ran = idsync(*shlex.split(command)[1:])
                assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
    assert not (tmp_path / "state" / "idsync" / "demo.json").exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the hub stopped with the demo
        try:
            httpx.get(f"{details['hub_url']}/healthz", timeout=1)
        except httpx.HTTPError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the demo's hub still answers")


def _printed(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The commands (and links) a demo command prints, each on its own indented line."""
    return [line.strip() for line in done.stdout.splitlines() if line.startswith("  ")]


def _first_line(process: subprocess.Popen[bytes]) -> bytes:
    line = first_line(process, timeout=120)
    if not line:
        assert process.stderr is not None
        raise AssertionError(process.stderr.read().decode())
    return line
