"""``idsync serve`` syncs by itself: a new integration with auto sync runs without anyone asking."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from idsync.store.database import open_database
from idsync.store.migrate import upgrade
from tests.conftest import make_org, start_server, stop_server
from tests.sync.conftest import Emulator, idsync


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
        info = emulator.info
        added = idsync(
            url,
            "integration",
            "add",
            "entra",
            "--org",
            org.id,
            "--tenant-id",
            info["tenant_id"],
            "--client-id",
            info["client_id"],
            "--client-secret",
            info["client_secret"],
            "--authority",
            info["url"],
            "--graph-url",
            info["graph_url"],
            "--ca-file",
            info["ca_file"],
        )
        deadline = time.monotonic() + 60
        status = idsync(url, "sync", "status", added["id"])
        while status["status"] != "Active" and time.monotonic() < deadline:
            time.sleep(0.5)
            status = idsync(url, "sync", "status", added["id"])
        assert status["status"] == "Active", status
        users = httpx.get(
            f"{org.scim_url}/Users", headers={"Authorization": f"Bearer {org.token}"}
        ).json()
        assert users["totalResults"] == info["users"]
    finally:
        stop_server(server)
