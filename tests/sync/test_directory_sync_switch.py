"""The org's "Allow directory sync" switch: off, no integration of the org runs a cycle,
on schedule or on demand, and nothing of the integration is lost; on, they run again."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from idsync.manage import orgs
from idsync.store import integrations as jobs
from idsync.store.database import Database
from idsync.store.types import utcnow
from tests.conftest import wait_for
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    cycle_finished,
    idsync,
)


def test_a_switched_off_org_runs_no_cycle_until_switched_on(
    database: Database, connected: Connected, emulator: Emulator
) -> None:
    assert connected.sync()["status"] == "Active"
    before = connected.status()
    orgs.set_directory_sync(database, connected.org.id, False, actor="tests")

    refused = subprocess.run(
        [sys.executable, "-m", "idsync", "sync", "run", connected.integration_id,
         "--database", connected.database_url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "IDS-409-131" in refused.stderr
    advice = f"idsync org set {connected.org.id} --directory-sync on"
    assert advice in " ".join(refused.stderr.split())
    # Due on schedule (auto sync on, next run in the past): the scheduler leaves it alone.
    idsync(connected.database_url, "integration", "update", connected.integration_id, "--auto-sync")
    with database.write() as conn:
        jobs.update_job(conn, connected.integration_id, next_run_at=utcnow() - timedelta(minutes=1))
    with database.read() as conn:
        assert connected.integration_id not in jobs.due_jobs(conn, utcnow())
    assert connected.status()["last_cycle_id"] == before["last_cycle_id"]

    # What the error advises, run as printed.
    subprocess.run(
        [sys.executable, "-m", *advice.split(), "--database", connected.database_url],
        check=True, capture_output=True,
    )  # fmt: skip
    # On: the server's own scheduler (its tick is five seconds) runs the job that is due.
    # Asking whether the job is due would race that scheduler; its cycle is the proof.
    wait_for(
        lambda: cycle_finished(database, connected.integration_id, before["last_cycle_id"]),
        "the scheduler's cycle once switched on",
    )
    assert_hub_equals_directory(connected, emulator)
    assert connected.sync()["status"] == "Active"  # and on demand
