"""Active Directory → idsync → the hub, end to end: a real Samba AD DC (tests/samba.py),
``idsync integration add ldap --dialect ad`` and ``idsync sync run`` through the CLI, the
hub read back over SCIM.

The bind account is an ordinary Domain Users account, as docs/ldap.md recommends: it
cannot read the Deleted Objects container, so deletions must come from the sweep.
Where tombstones are the point (the Recycle Bin), it is granted List Contents and Read
Property on that container, as docs/ldap.md tells administrators to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.store.database import Database
from tests.conftest import Server, make_org
from tests.samba import (
    BIND_DN,
    BIND_PASSWORD,
    GROUPS,
    STAFF,
    SambaDC,
    running_dc,
    session_template,
)
from tests.sync.conftest import hub_resources, idsync


@pytest.fixture(scope="session")
def samba_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    return session_template(tmp_path_factory, worker_id)


@pytest.fixture
def dc(samba_template: Path, tmp_path: Path) -> Iterator[SambaDC]:
    yield from running_dc(samba_template, tmp_path)


@pytest.fixture
def recycle_bin_dc(samba_template: Path, tmp_path: Path) -> Iterator[SambaDC]:
    yield from running_dc(samba_template, tmp_path, recycle_bin=True)


@dataclass
class Hub:
    """One org's hub, an AD integration into it, and its SCIM API."""

    database_url: str
    integration_id: str
    scim: httpx.Client

    def sync(self) -> dict[str, Any]:
        report = dict(idsync(self.database_url, "sync", "run", self.integration_id))
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        return report

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["userName"]: u for u in hub_resources(self.scim, "/Users")}

    def groups(self) -> dict[str, set[str]]:
        """Member userNames by group displayName."""
        names = {u["id"]: name for name, u in self.users().items()}
        return {
            g["displayName"]: {names[m["value"]] for m in g.get("members", [])}
            for g in hub_resources(self.scim, "/Groups")
        }


@pytest.fixture
def connect(database: Database, server: Server, tmp_path: Path) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def connect(dc: SambaDC, *, bind_dn: str = BIND_DN, password: str = BIND_PASSWORD) -> Hub:
        org = make_org(database, server)
        secret = tmp_path / f"password-{len(clients)}"
        secret.write_text(password)
        added = idsync(
            server.database_url, "integration", "add", "ldap", "--org", org.id,
            "--url", dc.url, "--bind-dn", bind_dn, "--password-file", str(secret),
            "--dialect", "ad", "--user-base", STAFF, "--group-base", GROUPS,
            "--no-auto-sync", "--page-size", "5",
        )  # fmt: skip
        scim = httpx.Client(
            base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}, timeout=30
        )
        clients.append(scim)
        return Hub(server.database_url, added["id"], scim)

    yield connect
    for client in clients:
        client.close()


def upn(name: str) -> str:
    return f"{name}@idsync.test"


def test_active_directory_syncs_into_the_hub_with_an_ordinary_account(
    dc: SambaDC, connect: Any
) -> None:
    ann, bob, cid, dan = (dc.add_user(n) for n in ("ann", "bob", "cid", "dan"))
    dc.add_group("team", [ann, bob, cid])
    old = dc.add_group("old", [dan])
    hub = connect(dc)
    report = hub.sync()
    assert report["counts"]["create"] == 6
    assert set(hub.users()) == {upn(n) for n in ("ann", "bob", "cid", "dan")}
    assert hub.groups() == {"team": {upn("ann"), upn("bob"), upn("cid")}, "old": {upn("dan")}}

    dc.modify(ann, {"givenName": "Annie"})
    dc.set_enabled(cid, False)
    eve = dc.add_user("eve")
    dc.add_members(dc.add_group("new", []), [eve])
    dc.delete(bob)
    dc.delete(old)
    report = hub.sync()
    assert report["mode"] == "incremental"
    counts = report["counts"]
    assert counts["create"] == 2, counts  # eve, new
    assert counts["disable"] == 2, counts  # cid (disabled), bob (deleted)
    assert counts["delete"] == 1, counts  # old
    users = hub.users()
    assert users[upn("ann")]["name"]["givenName"] == "Annie"
    assert users[upn("cid")]["active"] is False
    assert users[upn("bob")]["active"] is False  # the deletion reached the hub
    assert users[upn("eve")]["active"] is True
    assert set(hub.groups()) == {"team", "new"}

    status = idsync(hub.database_url, "sync", "status", hub.integration_id)
    for object_type in ("user", "group"):
        removals = status["removals"][object_type]
        assert removals["mode"] == "sweep"
        assert "cannot read the Deleted Objects container" in removals["reason"]
    shown = subprocess.run(
        [sys.executable, "-m", "idsync", "sync", "status", hub.integration_id,
         "--database", hub.database_url],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        check=True,
    ).stdout  # fmt: skip
    # A long value goes below its label (sync_view), never wrapped inside a cell.
    assert re.search(r"deletions \(users/groups\):\s+sweep: ", shown), shown
    assert "cannot read the Deleted Objects container" in " ".join(shown.split())


def test_a_deleted_user_leaves_its_groups_at_once(dc: SambaDC, connect: Any) -> None:
    ann, bob, cid = (dc.add_user(n) for n in ("ann", "bob", "cid"))
    dc.add_group("team", [ann, bob, cid])
    dc.add_group("ops", [bob])
    hub = connect(dc)
    hub.sync()
    assert hub.groups() == {"team": {upn("ann"), upn("bob"), upn("cid")}, "ops": {upn("bob")}}

    # The groups' uSNChanged does not move when a member is deleted: only the user changes.
    dc.delete(bob)
    dc.set_enabled(cid, False)  # disabled in the directory, still a member there
    report = hub.sync()
    assert report["counts"]["disable"] == 2, report["counts"]
    assert hub.users()[upn("bob")]["active"] is False
    assert hub.groups() == {"team": {upn("ann"), upn("cid")}, "ops": set()}


def test_a_user_in_the_recycle_bin_is_disabled_then_deleted_once_recycled(
    recycle_bin_dc: SambaDC, connect: Any
) -> None:
    dc = recycle_bin_dc
    dc.grant_deleted_objects(BIND_DN)  # List Contents + Read Property, as docs/ldap.md says
    ann, bob = dc.add_user("ann"), dc.add_user("bob")
    dc.add_group("team", [ann, bob])
    hub = connect(dc)
    hub.sync()

    dc.delete(bob)
    report = hub.sync()
    assert report["counts"]["disable"] == 1, report["counts"]
    assert hub.users()[upn("bob")]["active"] is False  # restorable: kept, disabled
    assert hub.groups() == {"team": {upn("ann")}}

    dc.recycle_deleted()
    report = hub.sync()
    assert report["counts"]["delete"] == 1, report["counts"]
    assert upn("bob") not in hub.users()  # gone for good
    status = idsync(hub.database_url, "sync", "status", hub.integration_id)
    assert status["removals"]["user"]["mode"] == "tombstones"


def test_a_group_larger_than_the_range_reaches_the_hub_whole(dc: SambaDC, connect: Any) -> None:
    names = [f"member{n:02d}" for n in range(27)]
    members = dc.add_users(names)
    big = dc.add_group("big", members)
    hub = connect(dc)
    # Three requests for 27 members.
    idsync(hub.database_url, "integration", "update", hub.integration_id, "--range-size", "10")
    hub.sync()
    assert hub.groups() == {"big": {upn(n) for n in names}}

    late = dc.add_users(["member27"])
    dc.add_members(big, late)
    hub.sync()
    assert hub.groups() == {"big": {upn(n) for n in [*names, "member27"]}}
