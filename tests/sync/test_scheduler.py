"""``idsync serve`` syncs by itself: a new integration with auto sync runs without anyone asking."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from idsync.store.database import open_database
from idsync.store.migrate import upgrade
from tests.conftest import make_org, start_server, stop_server
from tests.sync.conftest import Emulator, add_entra, idsync


def test_serve_runs_due_jobs(tmp_path: Path, emulator: Emulator) -> None:
    url = f"sqlite:///{tmp_path / 'scheduled.db'}"
    db = open_database(url)
    upgrade(db)
    os.environ["IDSYNC_SCHEDULER_POLL_SECONDS"] = "0.5"
    try:
        server = start_server(url, tmp_path / "serve.log")
    finally:
        del os.environ["IDSYNC_SCHEDULER_POLL_SECONDS"]
    try:
        org = make_org(db, server)
        integration_id = add_entra(url, org.id, emulator)  # auto sync on, as by default
        deadline = time.monotonic() + 60
        status = idsync(url, "sync", "status", integration_id)
        while status["status"] != "Active" and time.monotonic() < deadline:
            time.sleep(0.5)
            status = idsync(url, "sync", "status", integration_id)
        assert status["status"] == "Active", status
        users = httpx.get(
            f"{org.scim_url}/Users", headers={"Authorization": f"Bearer {org.token}"}
        ).json()
        assert users["totalResults"] == emulator.info["users"]
    finally:
        stop_server(server)
