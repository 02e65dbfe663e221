"""Push an organisation to SCIM applications through the CLI: PyPI's ``scim2-server`` (a real
peer) and another idsync organisation over HTTP. After every cycle the application must hold
exactly what the hub holds: users, their state, managers, groups and their members."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.store.database import Database
from tests.conftest import Org, Server, make_org
from tests.scim_peer import schemas_without, start_proxy, start_scim2_server
from tests.sync.conftest import hub_resources, idsync

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@dataclass
class App:
    url: str
    token: str


@pytest.fixture(params=["scim2-server", "idsync"])
def app(
    request: pytest.FixtureRequest, database: Database, server: Server, tmp_path: Path
) -> Iterator[App]:
    if request.param == "idsync":
        other = make_org(database, server)
        yield App(other.scim_url, other.token)
        return
    peer = start_scim2_server(tmp_path)
    yield App(peer.url, peer.token)
    peer.stop()


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _push_integration(
    database_url: str, org: Org, app_url: str, token: str, tmp_path: Path, name: str = "app"
) -> str:
    """A SCIM push integration from ``org`` to the application at ``app_url``, run by hand."""
    token_file = tmp_path / f"token-{name}"
    token_file.write_text(token)
    added = idsync(
        database_url, "integration", "add", "scim", "--org", org.id, "--url", app_url,
        "--token-file", str(token_file), "--no-auto-sync", "--name", name,
    )  # fmt: skip
    return str(added["id"])


def _user(scim: httpx.Client, n: int, manager: str | None = None) -> str:
    response = scim.post("/Users", json=_user_body(n, manager))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _user_body(n: int, manager: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE],
        "userName": f"user{n}@example.org",
        "displayName": f"User {n}",
        "name": {"givenName": f"Given{n}", "familyName": f"Family{n}"},
        "emails": [{"type": "work", "value": f"user{n}@example.org"}],
        "active": True,
        ENTERPRISE: {"department": f"Dept {n % 3}"},
    }
    if manager:
        body[ENTERPRISE]["manager"] = {"value": manager}
    return body


def _many_users(scim: httpx.Client, count: int) -> list[str]:
    """``count`` users made through the hub's /Bulk, 500 a request; from the second 500
    on, each has a manager among the 500 before it (pages follow ids, so managers fall in
    every page: earlier, later, the same)."""
    ids: list[str] = []
    for start in range(0, count, 500):
        operations = [
            {
                "method": "POST",
                "bulkId": f"u{n}",
                "path": "/Users",
                "data": _user_body(n, ids[n - 500] if start else None),
            }
            for n in range(start, min(start + 500, count))
        ]
        reply = scim.post("/Bulk", json={"schemas": [BULK], "Operations": operations})
        assert reply.status_code == 200, reply.text
        answers = reply.json()["Operations"]
        assert [int(a["status"]) for a in answers] == [201] * len(operations), answers[:3]
        ids += [a["location"].rsplit("/", 1)[-1] for a in answers]
    return ids


def _app_users(scim: httpx.Client) -> int:
    reply = scim.get("/Users", params={"count": "0"})
    assert reply.status_code == 200, reply.text
    return int(reply.json()["totalResults"])


def _patch(scim: httpx.Client, path: str, *operations: dict[str, Any]) -> None:
    response = scim.patch(path, json={"schemas": [PATCH], "Operations": list(operations)})
    assert response.status_code in (200, 204), response.text


def _state(scim: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Users by userName (with their manager's userName) and groups by name (member userNames)."""
    users = hub_resources(scim, "/Users")
    by_id = {u["id"]: u["userName"] for u in users}
    assert len({u["userName"] for u in users}) == len(users), "a user is there twice"
    groups = hub_resources(scim, "/Groups")
    by_id.update({g["id"]: g["displayName"] for g in groups})
    user_state = {
        u["userName"]: {
            "displayName": u.get("displayName"),
            "givenName": u.get("name", {}).get("givenName"),
            "active": u.get("active", True),
            "email": next(
                (e["value"] for e in u.get("emails", []) if e.get("type") == "work"), None
            ),
            "department": u.get(ENTERPRISE, {}).get("department"),
            "manager": by_id.get(u.get(ENTERPRISE, {}).get("manager", {}).get("value")),
        }
        for u in users
    }
    group_state = {
        g["displayName"]: sorted(by_id[m["value"]] for m in g.get("members", [])) for g in groups
    }
    return user_state, group_state


def _assert_app_equals_hub(hub: httpx.Client, target: httpx.Client) -> None:
    hub_users, hub_groups = _state(hub)
    app_users, app_groups = _state(target)
    # A user deleted in the hub is disabled in the application, as Entra's provisioning
    # does: reversible, and the application keeps what belongs to it.
    for user_name in set(app_users) - set(hub_users):
        assert app_users.pop(user_name)["active"] is False, f"{user_name} is still active"
    assert app_users == hub_users
    assert app_groups == hub_groups


def test_push_keeps_the_application_equal_to_the_hub(
    database: Database, server: Server, app: App, tmp_path: Path
) -> None:
    org: Org = make_org(database, server)
    url = server.database_url
    with _client(org.scim_url, org.token) as hub, _client(app.url, app.token) as target:
        boss = _user(hub, 0)
        ids = [boss] + [_user(hub, n, manager=boss) for n in range(1, 12)]
        staff = hub.post(
            "/Groups",
            json={
                "schemas": [GROUP],
                "displayName": "Staff",
                "members": [{"value": i} for i in ids],
            },
        )
        assert staff.status_code == 201, staff.text
        leads = hub.post(
            "/Groups",
            json={"schemas": [GROUP], "displayName": "Leads", "members": [{"value": boss}]},
        )
        assert leads.status_code == 201, leads.text
        push = _push_integration(url, org, app.url, app.token, tmp_path)
        report = idsync(url, "sync", "run", push)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        _assert_app_equals_hub(hub, target)

        # Changes in the hub: each must reach the application.
        ids.append(_user(hub, 12, manager=ids[3]))
        _patch(
            hub, f"/Users/{ids[1]}", {"op": "replace", "path": "displayName", "value": "Renamed"}
        )
        _patch(hub, f"/Users/{ids[2]}", {"op": "replace", "path": "active", "value": False})
        _patch(hub, f"/Users/{ids[4]}", {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": ids[5]}})  # fmt: skip
        assert hub.delete(f"/Users/{ids[6]}").status_code == 204
        staff_id = staff.json()["id"]
        _patch(hub, f"/Groups/{staff_id}", {"op": "add", "path": "members", "value": [{"value": ids[12]}]})  # fmt: skip
        _patch(hub, f"/Groups/{staff_id}", {"op": "remove", "path": f'members[value eq "{ids[7]}"]'})  # fmt: skip
        _patch(hub, f"/Groups/{leads.json()['id']}", {"op": "replace", "path": "displayName", "value": "Leaders"})  # fmt: skip
        other = hub.post("/Groups", json={"schemas": [GROUP], "displayName": "Temp"})
        assert other.status_code == 201
        report = idsync(url, "sync", "run", push)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        _assert_app_equals_hub(hub, target)

        assert hub.delete(f"/Groups/{other.json()['id']}").status_code == 204
        report = idsync(url, "sync", "run", push)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert report["counts"].get("delete") == 1, report["counts"]
        _assert_app_equals_hub(hub, target)

        # Nothing changed: nothing is written.
        report = idsync(url, "sync", "run", push)
        counts = report["counts"]
        assert not any(counts.get(k) for k in ("create", "update", "delete", "disable")), counts


@pytest.mark.parametrize("app", ["scim2-server"], indirect=True)  # the peer: ~25 s a run
def test_a_push_of_several_pages_keeps_the_application_equal_to_the_hub(
    database: Database, server: Server, app: App, tmp_path: Path
) -> None:
    """A push sends each page while the one before it is still being remembered (the
    engine's ``_send_ahead``): 2,500 users in three pages, with managers in every page,
    some in the page in flight, reach the application each once, managers and all."""
    org = make_org(database, server)
    with _client(org.scim_url, org.token) as hub, _client(app.url, app.token) as target:
        _many_users(hub, 2500)
        push = _push_integration(server.database_url, org, app.url, app.token, tmp_path)
        report = idsync(server.database_url, "sync", "run", push)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert report["counts"]["create"] == 2500, report["counts"]
        assert not report["counts"].get("failed"), report["counts"]
        _assert_app_equals_hub(hub, target)


# idsync as the application: scim2-server answers the resumed cycle's matches by scanning
# every user, which made this test take 100 s a run for nothing more checked.
@pytest.mark.parametrize("app", ["idsync"], indirect=True)
def test_a_push_killed_half_way_resumes_without_loss_or_duplicates(
    database: Database, server: Server, app: App, tmp_path: Path
) -> None:
    """The push process is killed (SIGKILL) once the application holds its first users,
    with a page in flight; the next cycle, started at once, re-reads from the last
    checkpoint, takes what the killed one created as its own (matched, or answered 409 for
    a create it had sent), and leaves the application equal to the hub, no user twice."""
    org = make_org(database, server)
    with _client(org.scim_url, org.token) as hub, _client(app.url, app.token) as target:
        _many_users(hub, 4000)
        push = _push_integration(server.database_url, org, app.url, app.token, tmp_path)
        run = subprocess.Popen(
            [sys.executable, "-m", "idsync", "sync", "run", push,
             "--database", server.database_url, "--json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while run.poll() is None and _app_users(target) == 0:
                time.sleep(0.01)
        finally:
            run.kill()
            run.wait()
        # The next cycle starts at once, while the application may still be working
        # through the killed process's last requests (their answers go nowhere): a create
        # the match did not see yet is answered 409, and taken as this integration's.
        assert 0 < _app_users(target) < 4000, "the cycle was not cut off half-way"

        report = idsync(server.database_url, "sync", "run", push)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert not report["counts"].get("failed"), report["counts"]
        _assert_app_equals_hub(hub, target)


def test_a_push_cycle_sends_its_changes_in_bulk_and_one_bad_object_fails_alone(
    database: Database, server: Server, app: App, tmp_path: Path
) -> None:
    """Issue 12: updates, deactivations, deletes, managers and member changes of a cycle
    travel in Bulk requests (counted by the proxy in front of the application); a user
    whose new name the application refuses (409) fails alone, logged with its error, is
    escrowed and goes through once the clash is gone; the application then equals the hub."""
    org = make_org(database, server)
    proxy = start_proxy(app.url)
    url = server.database_url
    try:
        with _client(org.scim_url, org.token) as hub, _client(app.url, app.token) as target:
            ids = [_user(hub, n) for n in range(12)]
            teams = [[0, 1, 2, 7], [3, 4, 5, 8], [6, 7, 8], [9], [10, 11]]
            groups = [
                hub.post(
                    "/Groups",
                    json={
                        "schemas": [GROUP],
                        "displayName": f"Team {g}",
                        "members": [{"value": ids[n]} for n in team],
                    },
                ).json()["id"]
                for g, team in enumerate(teams)
            ]
            push = _push_integration(url, org, proxy.url, app.token, tmp_path)
            report = idsync(url, "sync", "run", push)
            assert report["status"] == "Active", (report["reason_code"], report["reason"])
            _assert_app_equals_hub(hub, target)
            clash = target.post("/Users", json={"schemas": [USER], "userName": "taken@example.org"})
            assert clash.status_code == 201, clash.text

            for n in range(1, 6):
                _patch(hub, f"/Users/{ids[n]}", {"op": "replace", "path": "displayName", "value": f"Renamed {n}"})  # fmt: skip
            _patch(hub, f"/Users/{ids[6]}", {"op": "replace", "path": "userName", "value": "taken@example.org"})  # fmt: skip
            for n in (10, 11):
                _patch(hub, f"/Users/{ids[n]}", {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": ids[0]}})  # fmt: skip
            for n in (7, 8):
                assert hub.delete(f"/Users/{ids[n]}").status_code == 204
            for g, (add, remove) in enumerate([(9, 1), (9, 4)]):
                _patch(hub, f"/Groups/{groups[g]}", {"op": "add", "path": "members", "value": [{"value": ids[add]}]}, {"op": "remove", "path": f'members[value eq "{ids[remove]}"]'})  # fmt: skip
            for g in (3, 4):
                assert hub.delete(f"/Groups/{groups[g]}").status_code == 204
            proxy.reset()
            report = idsync(url, "sync", "run", push)
            assert report["status"] == "Active", (report["reason_code"], report["reason"])
            counts = report["counts"]
            assert (counts.get("update"), counts.get("failed")) == (7, 1), counts
            assert (counts.get("disable"), counts.get("delete")) == (2, 2), counts

            alone = [
                f"{c.method} {c.path}"
                for method in ("PATCH", "PUT", "DELETE", "POST")
                for c in proxy.calls(method)
                if not c.bulk and not c.path.endswith("/Bulk")
            ]
            assert alone == [], alone
            # 8 user PATCHes (renames, managers), 2 member adds, 3 member removals (one
            # PATCH per group), 2 disables, 2 group DELETEs: 17 operations in 5 requests.
            operations = [op["method"] for r in proxy.bulks() for op in r.operations]
            assert (operations.count("PATCH"), operations.count("DELETE")) == (15, 2)
            assert len(proxy.bulks()) == 5, [len(r.operations) for r in proxy.bulks()]

            [failed] = idsync(url, "sync", "logs", push, "--result", "failure")
            assert (failed["action"], failed["error_code"]) == ("update", "IDS-409-050")
            assert clash.json()["id"] in json.dumps(failed)

            # The clash resolved in the application: the escrowed rename goes through.
            assert target.delete(f"/Users/{clash.json()['id']}").status_code == 204
            report = idsync(url, "sync", "run", push)
            assert report["status"] == "Active", (report["reason_code"], report["reason"])
            _assert_app_equals_hub(hub, target)
    finally:
        proxy.stop()


def test_a_one_member_change_to_a_big_group_sends_one_small_patch(
    database: Database, server: Server, tmp_path: Path
) -> None:
    """The whole path (the hub read as a source, the engine, the ledger) turns a one-member
    change of a 2,500-member group (its users three pages of the hub, its member list
    over 100 KB as one document) into one small PATCH, never the member list."""
    users, groups = tmp_path / "users.csv", tmp_path / "groups.csv"
    users.write_text("id,userName\n" + "".join(f"u{n},user{n}@example.org\n" for n in range(2_500)))
    groups.write_text(
        "id,displayName,members\ng,Everyone," + ";".join(f"u{n}" for n in range(2_500)) + "\n"
    )
    org = make_org(database, server)
    url = server.database_url
    loaded = idsync(
        url, "integration", "add", "file", "--org", org.id, "--users", str(users),
        "--groups", str(groups),
    )  # fmt: skip
    assert idsync(url, "sync", "run", loaded["id"])["status"] == "Active"
    peer = start_scim2_server(tmp_path)
    proxy = start_proxy(peer.url)
    try:
        push = _push_integration(url, org, proxy.url, peer.token, tmp_path)
        assert idsync(url, "sync", "run", push)["status"] == "Active"
        with _client(org.scim_url, org.token) as hub:
            group = hub.get("/Groups", params={"filter": 'displayName eq "Everyone"'})
            group_id = group.json()["Resources"][0]["id"]
            newcomer = _user(hub, 99_999)
            _patch(hub, f"/Groups/{group_id}", {"op": "add", "path": "members", "value": [{"value": newcomer}]})  # fmt: skip
            for change in ("add", "remove"):
                if change == "remove":
                    _patch(hub, f"/Groups/{group_id}", {"op": "remove", "path": f'members[value eq "{newcomer}"]'})  # fmt: skip
                proxy.reset()
                report = idsync(url, "sync", "run", push)
                assert report["status"] == "Active", (report["reason_code"], report["reason"])
                patches = proxy.of("PATCH", "/Groups")
                assert len(patches) == 1, [(p.path, p.size) for p in patches]
                [operation] = patches[0].operations
                assert operation["op"] == change
                assert patches[0].size < 300, patches[0].body
                assert not [r for r in proxy.requests if r.method == "PUT"]
    finally:
        proxy.stop()
        peer.stop()


def test_a_second_push_integration_leaves_the_first_ones_objects_alone(
    database: Database, server: Server, app: App, tmp_path: Path
) -> None:
    """Issue 9 item 11: objects another integration created in the application are logged
    ``skip`` with IDS-409-013 naming that integration, and nothing is written to them; with
    --adopt-existing the second takes them over, and the first then leaves them alone."""
    org = make_org(database, server)
    url = server.database_url

    def add(name: str) -> str:
        return _push_integration(url, org, app.url, app.token, tmp_path, name)

    with _client(org.scim_url, org.token) as hub, _client(app.url, app.token) as target:
        ids = [_user(hub, n) for n in range(3)]
        group = {"schemas": [GROUP], "displayName": "Staff", "members": [{"value": ids[0]}]}
        assert hub.post("/Groups", json=group).status_code == 201
        first = add("first")
        assert idsync(url, "sync", "run", first)["status"] == "Active"
        before = _state(target)
        _patch(hub, f"/Users/{ids[0]}", {"op": "replace", "path": "displayName", "value": "New"})

        second = add("second")
        report = idsync(url, "sync", "run", second)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        counts = report["counts"]
        assert counts.get("skip") == 4, counts
        assert not any(counts.get(k) for k in ("create", "update", "delete", "disable")), counts
        assert _state(target) == before
        skipped = idsync(url, "sync", "logs", second, "--action", "skip")
        assert len(skipped) == 4
        for entry in skipped:
            text = json.dumps(entry)
            assert "IDS-409-013" in text
            assert f"integration 'first' ({first})" in text
            assert "in the SCIM application at" in text

        idsync(url, "integration", "update", second, "--adopt-existing")
        report = idsync(url, "sync", "run", second, "--full")
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert not report["counts"].get("skip"), report["counts"]
        assert _state(target)[0]["user0@example.org"]["displayName"] == "New"

        # The first no longer owns them: its next change is skipped, not written.
        _patch(hub, f"/Users/{ids[0]}", {"op": "replace", "path": "displayName", "value": "Later"})
        report = idsync(url, "sync", "run", first)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert report["counts"].get("skip") == 1, report["counts"]
        assert _state(target)[0]["user0@example.org"]["displayName"] == "New"


def test_attributes_the_application_does_not_declare_are_logged_per_object(
    database: Database, server: Server, tmp_path: Path
) -> None:
    """Issue 9 item 12: an application whose /Schemas lacks ``title``: each user written
    without it gets IDS-400-100 naming the attribute in the provisioning log, and the
    cycle's counts say how many objects lost attributes."""
    peer = start_scim2_server(tmp_path, schemas=schemas_without(USER, "title"))
    org = make_org(database, server)
    url = server.database_url
    try:
        with _client(org.scim_url, org.token) as hub:
            for n in range(3):
                body = {"schemas": [USER], "userName": f"u{n}@example.org", "title": "Engineer"}
                assert hub.post("/Users", json=body).status_code == 201
            assert hub.post("/Users", json={"schemas": [USER], "userName": "plain@example.org"})
        push = _push_integration(url, org, peer.url, peer.token, tmp_path)
        report = idsync(url, "sync", "run", push)
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert report["counts"].get("create") == 4, report["counts"]
        assert report["counts"].get("attributesDropped") == 3, report["counts"]
        created = idsync(url, "sync", "logs", push, "--action", "create")
        dropped = {e["display"]: e for e in created if e["error_code"] == "IDS-400-100"}
        assert set(dropped) == {f"u{n}@example.org" for n in range(3)}
        assert all("does not declare title for users" in e["reason"] for e in dropped.values())
        status = idsync(url, "sync", "status", push)
        assert "attributesDropped" in json.dumps(status)
    finally:
        peer.stop()
