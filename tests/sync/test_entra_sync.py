"""Entra ID → hub: the initial cycle, then an incremental one with every kind of change."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from idsync.config import Settings
from idsync.manage import jobs
from idsync.store.database import Database
from idsync.sync import pages
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    directory_state,
    hub_resources,
    idsync,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _ref(emulator: Emulator, object_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{object_id}"}


def _ok(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def change_directory(emulator: Emulator) -> dict[str, Any]:
    """One of each change an administrator makes in Entra, through the Graph API."""
    users, groups = directory_state(emulator)
    ids = sorted(users)
    group_ids = sorted(groups, key=lambda g: groups[g]["displayName"])
    graph = emulator.admin
    new = [
        _ok(
            graph.post(
                "/v1.0/users",
                json={
                    "accountEnabled": True,
                    "displayName": f"New Person {n}",
                    "givenName": "New",
                    "surname": f"Person{n}",
                    "department": "Research",
                    "mailNickname": f"new{n}",
                    "userPrincipalName": f"new.person.{n}.{uuid.uuid4().hex[:6]}@contoso.example",
                    "passwordProfile": {
                        "password": "xWwvJ]6NMw+bWH-d",
                        "forceChangePasswordNextSignIn": True,
                    },
                },
            )
        )["id"]
        for n in range(2)
    ]
    updated, renamed, disabled, deleted = ids[0], ids[1], ids[2], ids[3]
    _ok(
        graph.patch(
            f"/v1.0/users/{updated}", json={"displayName": "Changed Name", "department": "Legal"}
        )
    )
    _ok(
        graph.patch(
            f"/v1.0/users/{renamed}",
            json={"userPrincipalName": f"renamed.{uuid.uuid4().hex[:6]}@contoso.example"},
        )
    )
    _ok(graph.patch(f"/v1.0/users/{disabled}", json={"accountEnabled": False}))
    _ok(graph.delete(f"/v1.0/users/{deleted}"))
    _ok(graph.put(f"/v1.0/users/{new[0]}/manager/$ref", json=_ref(emulator, ids[5])))
    first, second, doomed = group_ids[0], group_ids[1], group_ids[2]
    _ok(graph.post(f"/v1.0/groups/{first}/members/$ref", json=_ref(emulator, new[1])))
    removed_member = next(iter(sorted(groups[second]["members"] - {deleted})))
    _ok(graph.delete(f"/v1.0/groups/{second}/members/{removed_member}/$ref"))
    _ok(
        graph.patch(
            f"/v1.0/groups/{first}", json={"displayName": f"Renamed group {uuid.uuid4().hex[:6]}"}
        )
    )
    _ok(graph.delete(f"/v1.0/groups/{doomed}"))
    return {"new": new, "deleted": deleted, "disabled": disabled, "doomed_group": doomed}


def test_initial_then_incremental_cycle(connected: Connected, emulator: Emulator) -> None:
    users, groups = directory_state(emulator)

    first = connected.sync()
    assert first["status"] == "Active", first
    assert first["mode"] == "initial"
    assert first["create"] == len(users) + len(groups)
    assert first["failed"] == 0
    assert_hub_equals_directory(connected, emulator)
    assert connected.status()["removals"]["user"]["mode"] == "full"

    changes = change_directory(emulator)
    second = connected.sync()
    assert second["status"] == "Active", second
    assert second["mode"] == "incremental"
    assert second["create"] == 2
    assert second["delete"] == 1  # the group; the deleted user is disabled, as Entra does
    assert second["counts"]["usersRead"] < len(users)  # only the changes were read
    assert_hub_equals_directory(connected, emulator)
    removals = connected.status()["removals"]
    assert removals["user"]["mode"] == removals["group"]["mode"] == "delta"
    hub_users = {u["externalId"]: u for u in hub_resources(connected.scim, "/Users")}
    assert hub_users[changes["deleted"]]["active"] is False
    assert hub_users[changes["disabled"]]["active"] is False
    assert all(user in hub_users for user in changes["new"])
    hub_groups = {g["externalId"] for g in hub_resources(connected.scim, "/Groups")}
    assert changes["doomed_group"] not in hub_groups

    third = connected.sync()
    assert third["create"] == third["update"] == third["delete"] == third["disable"] == 0, third


def test_members_beyond_what_a_cycle_remembers_are_found_by_their_links(
    connected: Connected, emulator: Emulator, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory with more members than the cycle keeps in memory (MEMBER_CACHE_SIZE,
    here 5 of 46): the others are looked up by their links, page after page, none is
    left waiting for a later cycle, and every membership reaches the hub, in the initial
    cycle and in a full one."""
    monkeypatch.setattr(pages, "MEMBER_CACHE_SIZE", 5)
    for full in (False, True):
        report = jobs.run_cycle(database, Settings.from_env(), connected.integration_id, full=full)
        assert report.status == "Active", (report.reason_code, report.reason)
        assert "membersWaiting" not in report.counts, report.counts
        assert_hub_equals_directory(connected, emulator)


def test_a_full_cycle_counts_as_added_only_the_memberships_it_adds(
    connected: Connected, emulator: Emulator
) -> None:
    """A full read marks every membership it finds as seen; only the new ones count as
    added (the hub's count once included every membership marked)."""
    connected.sync()
    assert "membersAdded" not in connected.sync("--full")["counts"]
    _, groups = directory_state(emulator)
    group = min(groups)
    member = min(groups[group]["members"])
    _ok(emulator.admin.delete(f"/v1.0/groups/{group}/members/{member}/$ref"))
    assert "membersAdded" not in connected.sync("--full")["counts"]
    _ok(emulator.admin.post(f"/v1.0/groups/{group}/members/$ref", json=_ref(emulator, member)))
    assert connected.sync("--full")["counts"]["membersAdded"] == 1
    assert_hub_equals_directory(connected, emulator)


def test_rerun_creates_no_duplicates(connected: Connected, emulator: Emulator) -> None:
    connected.sync()
    connected.sync("--full")
    users, _ = directory_state(emulator)
    hub = hub_resources(connected.scim, "/Users")
    assert len(hub) == len(users)
    assert len({u["userName"].lower() for u in hub}) == len(hub)


def test_a_full_read_clears_a_manager_the_directory_no_longer_has(
    connected: Connected, emulator: Emulator
) -> None:
    """Issue 9 item 24: after ``sync restart --reset watermark`` (as after an expired delta
    token) the first round lists the user without ``manager@delta``: the manager is gone."""
    users, _ = directory_state(emulator)
    employee, boss = sorted(users)[:2]
    _ok(emulator.admin.put(f"/v1.0/users/{employee}/manager/$ref", json=_ref(emulator, boss)))
    assert connected.sync()["status"] == "Active"

    def manager() -> Any:
        hub_users = {u["externalId"]: u for u in hub_resources(connected.scim, "/Users")}
        return hub_users[employee].get(ENTERPRISE, {}).get("manager")

    assert manager() is not None
    _ok(emulator.admin.delete(f"/v1.0/users/{employee}/manager/$ref"))
    idsync(
        connected.database_url, "sync", "restart", connected.integration_id, "--reset", "watermark"
    )
    report = connected.sync()
    assert report["status"] == "Active", report
    assert manager() is None
