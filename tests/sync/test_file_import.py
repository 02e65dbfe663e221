"""A CSV import through the CLI into the hub: bad rows are skipped whole and logged with
their line numbers, the rest is applied, and a later import applies only the difference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from idsync.store.database import Database
from tests.conftest import Server, make_org
from tests.sync.conftest import hub_resources, idsync

USERS = """id,userName,displayName,enabled,manager
1,ann@example.org,Ann,true,
2,bob@example.org,Bob,yes,1
3,,No Name,true,
4,cat@example.org,Cat,maybe,
1,dup@example.org,Duplicate,true,
5,dan@example.org,Dan,false,2
"""
GROUPS = """id,displayName,members
g1,Admins,1;2
g2,Ghosts,1;99
"""


def _failures(database_url: str, integration_id: str) -> dict[str, dict[str, Any]]:
    entries = idsync(database_url, "sync", "logs", integration_id, "--limit", "1000")
    return {e["display"]: e for e in entries if e["result"] == "failure"}


def test_a_csv_import_skips_bad_rows_with_their_line_numbers(
    database: Database, server: Server, tmp_path: Path
) -> None:
    users, groups = tmp_path / "users.csv", tmp_path / "groups.csv"
    users.write_text(USERS)
    groups.write_text(GROUPS)
    org = make_org(database, server)
    url = server.database_url
    added = idsync(
        url, "integration", "add", "file", "--org", org.id,
        "--users", str(users), "--groups", str(groups),
    )  # fmt: skip
    report = idsync(url, "sync", "run", added["id"])
    assert report["status"] == "Active", report
    assert report["counts"]["rejected"] == 4
    failures = _failures(url, added["id"])
    assert {ref: e["error_code"] for ref, e in failures.items()} == {
        "line 4": "IDS-400-062",  # no userName
        "line 5": "IDS-400-063",  # enabled = maybe
        "line 6": "IDS-400-061",  # id 1 again
        "line 3": "IDS-400-064",  # the groups file's line 3: member 99 is in neither file
    }
    assert "line 2" in failures["line 6"]["reason"]

    with httpx.Client(
        base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}
    ) as scim:
        hub = {u["userName"]: u for u in hub_resources(scim, "/Users")}
        assert set(hub) == {"ann@example.org", "bob@example.org", "dan@example.org"}
        assert hub["dan@example.org"]["active"] is False
        assert (
            hub["bob@example.org"]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"][
                "manager"
            ]["value"]
            == hub["ann@example.org"]["id"]
        )
        hub_groups = {g["displayName"]: g for g in hub_resources(scim, "/Groups")}
        assert set(hub_groups) == {"Admins"}, "a group with an unknown member was half-applied"
        assert {m["value"] for m in hub_groups["Admins"]["members"]} == {
            hub["ann@example.org"]["id"],
            hub["bob@example.org"]["id"],
        }

        # Fix one row, break another that was applied, drop one: only that changes.
        users.write_text(
            USERS.replace("3,,No Name", "3,nina@example.org,Nina")
            .replace("2,bob@example.org,Bob,yes,1", "2,bob@example.org,Bob,perhaps,1")
            .replace("5,dan@example.org,Dan,false,2\n", "")
        )
        report = idsync(url, "sync", "run", added["id"])
        assert report["status"] == "Active", report
        assert report["counts"]["create"] == 1
        assert report["counts"]["disable"] == 1
        hub = {u["userName"]: u for u in hub_resources(scim, "/Users")}
        assert set(hub) == {
            "ann@example.org",
            "bob@example.org",
            "dan@example.org",
            "nina@example.org",
        }
        assert hub["bob@example.org"]["active"] is True, "a bad row disabled what it had made"
        assert hub["dan@example.org"]["active"] is False

        # An unchanged file costs nothing.
        report = idsync(url, "sync", "run", added["id"])
        assert report["counts"].get("create", 0) == report["counts"].get("update", 0) == 0


def test_users_removed_long_ago_do_not_count_as_the_source_shrinking(
    database: Database, server: Server, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"

    def write(ids: range | list[int]) -> None:
        users.write_text("id,userName\n" + "".join(f"{n},user{n}@example.org\n" for n in ids))

    write(range(1, 31))
    org = make_org(database, server)
    url = server.database_url
    added = idsync(url, "integration", "add", "file", "--org", org.id, "--users", str(users))
    assert idsync(url, "sync", "run", added["id"])["status"] == "Active"
    write(range(1, 11))  # two thirds gone at once: not believed until approved
    report = idsync(url, "sync", "run", added["id"])
    assert (report["status"], report["reason_code"]) == ("Quarantine", "IDS-409-011")
    assert idsync(url, "sync", "approve-deletes", added["id"])["disable"] == 20
    write(range(1, 10))  # then one more leaves: one of ten, not 21 of 30
    report = idsync(url, "sync", "run", added["id"])
    assert report["status"] == "Active", (report["reason_code"], report["reason"])
    assert report["counts"]["disable"] == 1


def test_a_user_whose_update_fails_is_not_read_as_gone(
    database: Database, server: Server, tmp_path: Path
) -> None:
    """A row still in the file whose update the hub refuses (the new userName is another
    user's) fails alone, is kept as it was and tried again, and is never disabled as if
    it had left, by an incremental read or a full one."""
    users = tmp_path / "users.csv"
    rows = {n: f"user{n}@example.org" for n in range(1, 11)}
    users.write_text("id,userName\n" + "".join(f"{n},{name}\n" for n, name in rows.items()))
    org = make_org(database, server)
    url = server.database_url
    added = idsync(
        url, "integration", "add", "file", "--org", org.id, "--users", str(users),
        "--no-auto-sync",  # the server's scheduler would run the cycle this test runs
    )  # fmt: skip
    assert idsync(url, "sync", "run", added["id"])["status"] == "Active"
    with httpx.Client(
        base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}
    ) as scim:
        taken = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "zed"}
        assert scim.post("/Users", json=taken).status_code == 201
        rows[5] = "zed"  # the hub refuses the rename: another user has that userName
        users.write_text("id,userName\n" + "".join(f"{n},{name}\n" for n, name in rows.items()))
        for run in (["sync", "run", added["id"]], ["sync", "run", added["id"], "--full"]):
            report = idsync(url, *run)
            assert report["counts"].get("failed") == 1, json.dumps(report)
            assert report["failed"] == 1 and not report["disable"], report["counts"]
        hub = {u["userName"]: u for u in hub_resources(scim, "/Users")}
        assert hub["user5@example.org"]["active"] is True
    entries = idsync(url, "sync", "logs", added["id"], "--limit", "1000")
    assert not [e for e in entries if e["action"] in ("disable", "delete")], entries
