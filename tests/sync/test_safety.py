"""What a cycle refuses to do on its own, and what it shows before doing anything."""

from __future__ import annotations

import time

import pytest

from idsync.store.database import Database
from tests.conftest import Server
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    connect,
    directory_state,
    hub_resources,
    idsync,
    users_already_there,
)


def test_deletion_threshold_stages_removals_until_approved(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator, "--deletion-threshold", "2")
    connected.sync()
    users, _ = directory_state(emulator)
    doomed = sorted(u for u in users if users[u]["accountEnabled"])[:3]
    for user in doomed:
        assert emulator.admin.delete(f"/v1.0/users/{user}").status_code == 204

    report = connected.sync()
    assert (report["status"], report["reason_code"]) == ("Quarantine", "IDS-409-010"), report
    assert report["stagedDelete"] == 3 and report["disable"] == 0
    hub = {u["externalId"]: u for u in hub_resources(connected.scim, "/Users")}
    assert all(hub[user]["active"] for user in doomed), "a staged removal was applied"
    staged = idsync(
        connected.database_url, "sync", "logs", connected.integration_id, "--action", "stagedDelete"
    )
    assert {entry["source_id"] for entry in staged} == set(doomed)
    assert all(
        entry["error_code"] == "IDS-409-010" and entry["recommended_action"] for entry in staged
    )

    again = connected.sync()  # a clean cycle does not lift the quarantine by itself
    assert (again["status"], again["reason_code"]) == ("Quarantine", "IDS-409-010"), again

    approved = idsync(connected.database_url, "sync", "approve-deletes", connected.integration_id)
    assert approved["disable"] == 3
    assert connected.status()["status"] == "Active"
    assert_hub_equals_directory(connected, emulator)


def test_preview_shows_the_changes_and_makes_none(connected: Connected, emulator: Emulator) -> None:
    users, groups = directory_state(emulator)
    preview = connected.sync("--preview")
    assert preview["create"] == len(users) + len(groups)
    assert {p["action"] for p in preview["preview"]} == {"create"}
    assert hub_resources(connected.scim, "/Users") == []
    assert connected.status()["status"] == "NotRun"
    assert connected.sync()["mode"] == "initial"  # the preview did not count as a cycle


def test_hand_made_users_are_left_alone_unless_adopted(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator)
    users, _ = directory_state(emulator)
    taken = users[sorted(users)[0]]["userPrincipalName"]
    made = connected.scim.post(
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": taken,
            "title": "by hand",
        },
    )
    assert made.status_code == 201, made.text

    report = connected.sync()
    assert report["skip"] >= 1
    skipped = idsync(
        connected.database_url, "sync", "logs", connected.integration_id, "--action", "skip"
    )
    assert [entry["error_code"] for entry in skipped if entry["display"] == taken] == [
        "IDS-409-013"
    ]
    assert connected.scim.get(f"/Users/{made.json()['id']}").json()["title"] == "by hand"

    idsync(
        connected.database_url,
        "integration",
        "update",
        connected.integration_id,
        "--adopt-existing",
    )
    adopted = connected.sync("--full")
    assert adopted["update"] >= 1
    assert_hub_equals_directory(connected, emulator)


def test_on_demand_provisioning_of_one_user(connected: Connected, emulator: Emulator) -> None:
    users, _ = directory_state(emulator)
    user_id = sorted(users)[4]
    entries = idsync(connected.database_url, "sync", "user", connected.integration_id, user_id)
    assert [(e["action"], e["result"]) for e in entries] == [("create", "success")]
    hub = hub_resources(connected.scim, "/Users")
    assert [u["externalId"] for u in hub] == [user_id]
    missing = idsync(
        connected.database_url, "sync", "user", connected.integration_id, "no-such-user"
    )
    assert [(e["action"], e["step"]) for e in missing] == [("skip", "import")]


def test_failed_objects_wait_in_escrow_and_are_retried(
    connected: Connected, emulator: Emulator
) -> None:
    users, _ = directory_state(emulator)
    victim = sorted(users)[6]
    # A hand-made user already holds the directory user's externalId: creating it fails.
    squatter = connected.scim.post(
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "squatter@example.com",
            "externalId": victim,
        },
    )
    assert squatter.status_code == 201, squatter.text

    first = connected.sync()
    assert first["status"] == "Active" and first["failed"] == 1, first
    [failure] = idsync(
        connected.database_url, "sync", "logs", connected.integration_id, "--result", "failure"
    )
    assert (failure["source_id"], failure["error_code"]) == (victim, "IDS-409-001")
    assert failure["recommended_action"]

    assert connected.scim.delete(f"/Users/{squatter.json()['id']}").status_code == 204
    second = connected.sync()  # the directory did not change: only the escrow brings it back
    assert second["counts"].get("escrowRetried") == 1, second
    assert second["failed"] == 0
    assert_hub_equals_directory(connected, emulator)


def test_more_than_40_percent_failures_quarantine(connected: Connected, emulator: Emulator) -> None:
    users, _ = directory_state(emulator)
    users_already_there(connected, sorted(users)[:25], "squatter")
    report = connected.sync()
    assert report["failed"] == 25
    assert (report["status"], report["reason_code"]) == ("Quarantine", "IDS-409-012"), report
    assert "25 of" in report["reason"]


def test_a_source_that_shrinks_is_not_believed(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator, "--deletion-threshold", "0")
    connected.sync()
    users, _ = directory_state(emulator)
    for user in sorted(users)[:30]:
        assert emulator.admin.delete(f"/v1.0/users/{user}").status_code == 204

    report = connected.sync("--full")  # a full read now misses 30 of the 40 users
    assert (report["status"], report["reason_code"]) == ("Quarantine", "IDS-409-011"), report
    assert report["disable"] == 0 and report["stagedDelete"] >= 30
    assert sum(u["active"] for u in hub_resources(connected.scim, "/Users")) >= 30


def test_matching_by_external_id_links_a_renamed_hand_made_user(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator, "--matching-attribute", "externalId",
                        "--adopt-existing")  # fmt: skip
    users, _ = directory_state(emulator)
    source_id = sorted(users)[8]
    made = connected.scim.post("/Users", json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "old.name@example.com", "externalId": source_id})  # fmt: skip
    assert made.status_code == 201, made.text
    report = connected.sync()
    assert report["failed"] == 0, report
    adopted = connected.scim.get(f"/Users/{made.json()['id']}").json()
    assert adopted["userName"] == users[source_id]["userPrincipalName"]
    assert_hub_equals_directory(connected, emulator)


def test_assigned_group_scopes_users_and_follows_membership_changes(
    database: Database, server: Server, emulator: Emulator
) -> None:
    users, _ = directory_state(emulator)
    enabled_users = sorted(u for u in users if users[u]["accountEnabled"])
    pilot = emulator.write("POST", "/v1.0/groups", {
        "displayName": "Pilot", "mailEnabled": False, "mailNickname": "pilot",
        "securityEnabled": True}).json()  # fmt: skip
    for user in enabled_users[:4]:
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user}"}
        emulator.write("POST", f"/v1.0/groups/{pilot['id']}/members/$ref", ref)
    assigned = {"id": pilot["id"], "members": set(enabled_users[:4])}
    connected = connect(database, server, emulator, "--scope-group", assigned["id"])

    def hub_state() -> tuple[set[str], set[str]]:
        hub = hub_resources(connected.scim, "/Users")
        active = {u["externalId"] for u in hub if u["active"]}
        return active, {g["externalId"] for g in hub_resources(connected.scim, "/Groups")}

    report = connected.sync()
    assert report["status"] == "Active", report
    members = assigned["members"] & users.keys()
    enabled = {u for u in members if users[u]["accountEnabled"]}
    assert hub_state() == (enabled, {assigned["id"]})

    outsider = next(u for u in sorted(users) if u not in members and users[u]["accountEnabled"])
    leaver = sorted(enabled)[0]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{outsider}"}
    assert emulator.admin.post(f"/v1.0/groups/{assigned['id']}/members/$ref", json=ref).is_success
    assert emulator.admin.delete(f"/v1.0/groups/{assigned['id']}/members/{leaver}/$ref").is_success

    report = connected.sync()
    assert report["status"] == "Active", report
    assert hub_state() == ((enabled - {leaver}) | {outsider}, {assigned["id"]})


def test_pause_and_resume(connected: Connected) -> None:
    url, integration = connected.database_url, connected.integration_id
    assert idsync(url, "sync", "pause", integration)["status"] == "Paused"
    assert connected.status()["status"] == "Paused"
    assert idsync(url, "sync", "resume", integration)["status"] == "NotRun"  # it never ran
    connected.sync()
    idsync(url, "sync", "pause", integration)
    assert idsync(url, "sync", "resume", integration)["status"] == "Active"


def test_provisioning_log_keeps_what_retention_says(
    connected: Connected, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    connected.sync()
    first = idsync(
        connected.database_url, "sync", "logs", connected.integration_id, "--limit", "10000"
    )
    assert first
    time.sleep(1.5)
    users, _ = directory_state(emulator)
    emulator.write("PATCH", f"/v1.0/users/{sorted(users)[0]}", {"jobTitle": "Retention test"})
    monkeypatch.setenv("IDSYNC_PROVISIONING_LOG_DAYS", str(1 / 86400))  # one second
    report = connected.sync()
    assert report["counts"]["logEntriesPruned"] == len(first)
    kept = idsync(
        connected.database_url, "sync", "logs", connected.integration_id, "--limit", "10000"
    )
    assert {e["cycle_id"] for e in kept} == {report["cycle_id"]}
