"""Kill the syncing process at random points, again and again: the cycle that follows
resumes from its checkpoint and converges, with nothing lost and nothing duplicated."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.store import integrations as jobs
from idsync.store.bulk import DEFER_INDEX_FROM_USERS
from idsync.store.database import Database
from tests.conftest import PrivateDatabase, Server, start_server, stop_server
from tests.entra_emulator import start_emulator
from tests.store.test_first_load_index import has_member_index
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    connect,
    hub_resources,
    idsync,
)
from tests.sync.test_entra_sync import change_directory

USERS_AND_GROUPS = ("usersRead", "groupsRead")


def _kill_mid_cycle(
    database: Database,
    connected: Connected,
    objects: int,
    *,
    counted: tuple[str, ...] = USERS_AND_GROUPS,
) -> bool:
    """Start a cycle and SIGKILL it once it has read ``objects`` objects of the ``counted``
    kinds (by its checkpoint); True if it was killed while running."""
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
    start = _objects_read(database, connected.integration_id, counted)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if _objects_read(database, connected.integration_id, counted) - start >= objects:
            break
        time.sleep(0.01)
    killed = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return killed


def _objects_read(database: Database, integration_id: str, counted: tuple[str, ...]) -> int:
    with database.read() as conn:
        checkpoint = jobs.get_job(conn, integration_id).checkpoint or {}
    counts = (checkpoint.get("tally") or {}).get("counts", {})
    return sum(int(counts.get(kind, 0)) for kind in counted)


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


@pytest.fixture
def private_server(private_database: PrivateDatabase, tmp_path: Path) -> Iterator[Server]:
    handle = start_server(private_database.url, tmp_path / "serve.log", "--no-scheduler")
    yield handle
    stop_server(handle)


def test_a_first_load_killed_in_its_group_phase_leaves_the_index_to_the_next_cycle(
    private_database: PrivateDatabase, private_server: Server, tmp_path: Path
) -> None:
    """A first load big enough to defer the index of memberships by user, killed
    while it writes groups: the index is missing until the cycle that resumes it ends."""
    database = private_database.db
    emulator = start_emulator(
        tmp_path / "emulator.log", Emulator, users=DEFER_INDEX_FROM_USERS, groups=100, seed=11
    )
    try:
        connected = connect(database, private_server, emulator, "--page-size", "10")
        killed = _kill_mid_cycle(database, connected, 10, counted=("groupsRead",))
        assert killed, "the cycle finished before the kill"
        assert not has_member_index(database)

        report = connected.sync()
        assert report["status"] == "Active", report
        assert has_member_index(database)
        assert_hub_equals_directory(connected, emulator)
        assert_no_duplicates(connected)
    finally:
        emulator.stop()
