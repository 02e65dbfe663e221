"""Kill the syncing process at random points, again and again: the cycle that follows
resumes from its checkpoint and converges, with nothing lost and nothing duplicated."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from idsync.store.database import Database
from tests.conftest import Server
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    connect,
    hub_resources,
    idsync,
)
from tests.sync.test_entra_sync import change_directory


def _kill_mid_cycle(connected: Connected, delay: float) -> bool:
    """Start a cycle and SIGKILL it after ``delay`` s; True if it was killed while running."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "idsync",
            "sync",
            "run",
            connected.integration_id,
            "--database",
            connected.database_url,
            "--json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    killed = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return killed


def _assert_no_duplicates(connected: Connected) -> None:
    users = hub_resources(connected.scim, "/Users")
    groups = hub_resources(connected.scim, "/Groups")
    assert len({u["externalId"] for u in users}) == len(users)
    assert len({g["externalId"] for g in groups}) == len(groups)
    created = idsync(
        connected.database_url,
        "sync",
        "logs",
        connected.integration_id,
        "--action",
        "create",
        "--limit",
        "100000",
    )
    per_source = [entry["source_id"] for entry in created]
    assert len(per_source) == len(set(per_source)), "an object was created twice"


def test_killed_cycles_resume_without_loss_or_duplicates(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator, "--page-size", "3")
    rng = random.Random(20261126)
    kills = sum(_kill_mid_cycle(connected, rng.uniform(0.8, 3.0)) for _ in range(5))
    assert kills >= 3, "the cycles finished before they could be killed: lower the delays"
    report = connected.sync()
    assert report["status"] == "Active", report
    assert_hub_equals_directory(connected, emulator)
    _assert_no_duplicates(connected)

    change_directory(emulator)
    for _ in range(3):
        _kill_mid_cycle(connected, rng.uniform(0.8, 2.0))
    report = connected.sync()
    assert report["status"] == "Active", report
    assert_hub_equals_directory(connected, emulator)
    _assert_no_duplicates(connected)
