"""Kill the syncing process at random points, again and again: the cycle that follows
resumes from its checkpoint and converges, with nothing lost and nothing duplicated."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from idsync.store import integrations as jobs
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


def _kill_mid_cycle(database: Database, connected: Connected, objects: int) -> bool:
    """Start a cycle and SIGKILL it once it has read ``objects`` objects (by its checkpoint);
    True if it was killed while running."""
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
    start = _objects_read(database, connected.integration_id)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if _objects_read(database, connected.integration_id) - start >= objects:
            break
        time.sleep(0.01)
    killed = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return killed


def _objects_read(database: Database, integration_id: str) -> int:
    with database.read() as conn:
        checkpoint = jobs.get_job(conn, integration_id).checkpoint or {}
    counts = (checkpoint.get("tally") or {}).get("counts", {})
    return int(counts.get("usersRead", 0) + counts.get("groupsRead", 0))


def assert_no_duplicates(connected: Connected) -> None:
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
    # 46 objects in pages of 3: each run reads a few more pages before it is killed.
    kills = sum(_kill_mid_cycle(database, connected, rng.randint(3, 9)) for _ in range(5))
    assert kills >= 3, "the cycles finished before they could be killed"
    report = connected.sync()
    assert report["status"] == "Active", report
    assert_hub_equals_directory(connected, emulator)
    assert_no_duplicates(connected)

    change_directory(emulator)
    for _ in range(3):
        _kill_mid_cycle(database, connected, rng.randint(1, 6))
    report = connected.sync()
    assert report["status"] == "Active", report
    assert_hub_equals_directory(connected, emulator)
    assert_no_duplicates(connected)
