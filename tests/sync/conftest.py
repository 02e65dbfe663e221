"""Directory sync end to end: ``idsync emulator`` (a local Entra ID) → ``idsync`` → the hub.

Every test starts its own emulator process (a fresh, seeded directory) and drives
idsync through its CLI, as an administrator would; the hub is read back over its
SCIM API and the directory over Graph.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from idsync.store import integrations as jobs
from idsync.store.database import Database
from tests.commands import run_idsync
from tests.conftest import Org, Server, make_org
from tests.entra_emulator import EmulatorProcess, start_emulator

# Every idsync process of the session (the CLI, the server) shares one credentials key.
os.environ.setdefault("IDSYNC_SECRET_KEY", Fernet.generate_key().decode())


Emulator = EmulatorProcess


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    handle = start_emulator(tmp_path / "emulator.log", Emulator, users=40, groups=6, seed=7)
    yield handle
    handle.stop()


def idsync(
    database_url: str, *args: str, check: bool = True, timeout: float = 120, warm: bool = True
) -> Any:
    """Run one ``idsync … --json`` command; returns its JSON output."""
    result = run_idsync(
        [*args, "--database", database_url, "--json"], timeout=timeout, check=False, warm=warm
    )
    output = json.loads(result.stdout) if result.stdout.strip() else None
    if args[:2] == ("sync", "run") and output is not None:
        # A cycle ran: the exit code says how the job is after it, whatever a test expects.
        assert result.returncode == run_exit_code(output), (result.returncode, output)
    elif check and result.returncode != 0:
        raise AssertionError(f"idsync {' '.join(args)} failed:\n{result.stderr.decode()}")
    return output


def run_exit_code(report: dict[str, Any]) -> int:
    """What ``sync run`` must exit with after this report (docs/sync.md, "Exit codes")."""
    if report["reason_code"] in ("IDS-409-010", "IDS-409-011"):
        return 4  # deletions staged, waiting for approval
    if report["status"] in ("Quarantine", "Disabled") or report["outcome"] == "quarantined":
        return 3
    if report["outcome"] in ("failed", "interrupted"):
        return 5
    return 0


@dataclass
class Connected:
    org: Org
    integration_id: str
    database_url: str
    scim: httpx.Client

    def sync(self, *extra: str) -> dict[str, Any]:
        return dict(idsync(self.database_url, "sync", "run", self.integration_id, *extra))

    def status(self) -> dict[str, Any]:
        return dict(idsync(self.database_url, "sync", "status", self.integration_id))


def add_entra(database_url: str, org_id: str, emulator: Emulator, *options: str) -> str:
    """``idsync integration add entra`` pointed at the emulator; the integration's id."""
    info = emulator.info
    secret = emulator.log_path.with_name("client-secret")
    secret.write_text(info["client_secret"])
    added = idsync(
        database_url, "integration", "add", "entra", "--org", org_id,
        "--tenant-id", info["tenant_id"], "--client-id", info["client_id"],
        "--client-secret-file", str(secret), "--authority", info["url"],
        "--graph-url", info["graph_url"], "--ca-file", info["ca_file"], *options,
    )  # fmt: skip
    return str(added["id"])


def connect(database: Database, server: Server, emulator: Emulator, *options: str) -> Connected:
    """A fresh org with an Entra integration (auto sync off: the test runs its cycles)."""
    org = make_org(database, server)
    integration_id = add_entra(server.database_url, org.id, emulator, "--no-auto-sync", *options)
    scim = httpx.Client(
        base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}, timeout=30
    )
    return Connected(org, integration_id, server.database_url, scim)


@pytest.fixture
def connected(database: Database, server: Server, emulator: Emulator) -> Iterator[Connected]:
    handle = connect(database, server, emulator)
    yield handle
    handle.scim.close()


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def hub_resources(scim: httpx.Client, endpoint: str) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    start = 1
    while True:
        response = scim.get(endpoint, params={"startIndex": start, "count": 1000})
        assert response.status_code == 200, response.text
        body = response.json()
        resources += body.get("Resources", [])
        start += body["itemsPerPage"]
        if start > body["totalResults"] or not body["itemsPerPage"]:
            return resources


def users_already_there(connected: Connected, external_ids: list[str], prefix: str) -> list[str]:
    """Users created over SCIM before the integration reads them, with the directory's ids
    as externalId and other userNames: each clashes with a directory user. Their ids."""
    made = []
    for n, external_id in enumerate(external_ids):
        answer = connected.scim.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"{prefix}{n}@example.com",
                "externalId": external_id,
            },
        )
        assert answer.status_code == 201, answer.text
        made.append(str(answer.json()["id"]))
    return made


def cycle_finished(database: Database, integration_id: str, after: str | None = None) -> bool:
    """Whether the job's last cycle is over (no checkpoint, no owner) and is not ``after``
    (the cycle id seen before; None: any finished cycle)."""
    with database.read() as conn:
        job = jobs.get_job(conn, integration_id)
    done = job.last_cycle_id is not None and job.last_cycle_id != after
    return done and job.checkpoint is None and job.running_by is None


def directory_state(
    emulator: Emulator,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Users (with their manager) and groups (with their members) as Graph lists them now."""
    select = "id,userPrincipalName,displayName,givenName,surname,accountEnabled,department,manager"
    users: dict[str, dict[str, Any]] = {}
    for item in emulator.all(f"/v1.0/users/delta?$select={select}"):
        if "@removed" in item:
            users.pop(item["id"], None)
            continue
        user = users.setdefault(item["id"], {})
        user.update({k: v for k, v in item.items() if not k.startswith("manager")})
        if "manager@delta" in item:
            managers = [m["id"] for m in item["manager@delta"] if "@removed" not in m]
            user["manager"] = managers[0] if managers else None
    groups: dict[str, dict[str, Any]] = {}
    for item in emulator.all("/v1.0/groups?$select=id,displayName"):
        members = emulator.all(f"/v1.0/groups/{item['id']}/members?$select=id")
        groups[item["id"]] = {**item, "members": {m["id"] for m in members}}
    return users, groups


def assert_hub_equals_directory(connected: Connected, emulator: Emulator) -> None:
    users, groups = directory_state(emulator)
    hub_users = {u["externalId"]: u for u in hub_resources(connected.scim, "/Users")}
    hub_groups = {g["externalId"]: g for g in hub_resources(connected.scim, "/Groups")}
    hub_id = {
        **{k: v["id"] for k, v in hub_users.items()},
        **{k: v["id"] for k, v in hub_groups.items()},
    }
    for source_id, user in users.items():
        hub = hub_users.get(source_id)
        assert hub is not None, f"user {user['userPrincipalName']} missing from the hub"
        assert hub["userName"] == user["userPrincipalName"]
        assert hub["active"] is user["accountEnabled"], hub["userName"]
        assert hub.get("displayName") == user.get("displayName")
        assert hub.get("name", {}).get("givenName") == user.get("givenName")
        assert hub.get(ENTERPRISE, {}).get("department") == user.get("department")
        manager = user.get("manager")
        assert hub.get(ENTERPRISE, {}).get("manager", {}).get("value") == (
            hub_id.get(manager) if manager else None
        )
    for source_id, hub in hub_users.items():
        if source_id not in users:
            assert hub["active"] is False, (
                f"{hub['userName']} left the directory but is still active"
            )
    assert set(hub_groups) == set(groups), "the hub's groups differ from the directory's"
    for source_id, group in groups.items():
        hub = hub_groups[source_id]
        assert hub["displayName"] == group["displayName"]
        expected = {hub_id[m] for m in group["members"] if m in hub_id}
        assert {m["value"] for m in hub.get("members", [])} == expected, group["displayName"]
        assert len(expected) == len(group["members"]), "a member of the directory is missing"
