"""Delta query for users and groups: paging, snapshots, incremental rounds, resets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tests.emulator.conftest import Emulator, merge_groups, read_round

USER_SELECT = "displayName,givenName,surname,accountEnabled,jobTitle,department,manager"
GROUP_SELECT = "displayName,description,members"
GRAPH_OBJECT = "https://graph.microsoft.com/v1.0/directoryObjects/{}"


def _state(emulator: Emulator) -> dict[str, Any]:
    response = emulator.admin().get(f"{emulator['url']}/_emulator/state")
    assert response.status_code == 200
    return dict(response.json())


def test_same_seed_same_tenant(start_emulator: Callable[..., Emulator]) -> None:
    args = ("--users", "20", "--groups", "4")
    one, two = start_emulator(*args, "--seed", "42"), start_emulator(*args, "--seed", "42")
    other = start_emulator(*args, "--seed", "43")
    for key in ("tenant_id", "client_id", "client_secret"):
        assert one[key] == two[key]
        assert one[key] != other[key]

    def snapshot(emulator: Emulator) -> list[dict[str, Any]]:
        client = emulator.client(emulator.app_token())
        users, _, _ = read_round(client, f"/v1.0/users/delta?$select={USER_SELECT},employeeId,mail")
        groups, _, _ = read_round(client, "/v1.0/groups/delta")
        return users + groups

    assert snapshot(one) == snapshot(two)
    assert snapshot(one) != snapshot(other)


def test_delta_paging(shared_emulator: Emulator) -> None:
    client = shared_emulator.client(shared_emulator.app_token())
    users, users_link, user_pages = read_round(
        client, f"/v1.0/users/delta?$select={USER_SELECT}", 7
    )
    assert user_pages == 8  # 50 users, 7 a page
    assert len(users) == 50
    assert len({u["id"] for u in users}) == 50
    assert "$deltatoken=" in users_link
    by_id = {u["id"]: u for u in users}
    managed = [u for u in users if "manager@delta" in u]
    assert len(managed) >= 40  # most users have a manager...
    for user in managed:  # ...who is another user of the tenant
        (manager,) = user["manager@delta"]
        assert manager["@odata.type"] == "#microsoft.graph.user"
        assert manager["id"] in by_id
    assert set(users[1]) == ({"id", *USER_SELECT.split(",")} | {"manager@delta"}) - {"manager"}

    groups, groups_link, group_pages = read_round(
        client, f"/v1.0/groups/delta?$select={GROUP_SELECT}"
    )
    merged = merge_groups(groups)
    assert len(merged) == 20
    assert "$deltatoken=" in groups_link
    # Every membership exactly once, though groups larger than the page budget (10) are
    # repeated, chunk by chunk, over several pages.
    memberships = Counter(
        (group_id, member["id"]) for group_id, g in merged.items() for member in g["members@delta"]
    )
    assert sum(memberships.values()) == _state(shared_emulator)["memberships"]
    assert max(memberships.values()) == 1
    assert any(count > 1 for count in Counter(g["id"] for g in groups).values())
    everyone = next(g for g in merged.values() if g["displayName"] == "All Company")
    assert {m["id"] for m in everyone["members@delta"]} == set(by_id)
    assert group_pages >= sum(memberships.values()) // 10  # the budget bounds every page
    nested = [
        m
        for g in merged.values()
        for m in g["members@delta"]
        if m["@odata.type"] == "#microsoft.graph.group"
    ]
    for member in nested:
        assert member["id"] in merged


def test_nextlink_replay_returns_the_same_page(shared_emulator: Emulator) -> None:
    client = shared_emulator.client(shared_emulator.app_token())
    first = client.get("/v1.0/groups/delta", headers={"Prefer": "odata.maxpagesize=2"})
    assert first.headers["preference-applied"] == "odata.maxpagesize=2"
    next_link = first.json()["@odata.nextLink"]
    again = client.get(next_link)
    once_more = client.get(next_link)
    assert again.status_code == once_more.status_code == 200
    assert again.content == once_more.content
    # A client that crashed resumes from the saved nextLink: same page, same continuation.
    resumed = shared_emulator.client(shared_emulator.app_token()).get(next_link)
    assert resumed.content == again.content


def test_deltatoken_latest_returns_no_objects(shared_emulator: Emulator) -> None:
    client = shared_emulator.client(shared_emulator.app_token())
    body = client.get("/v1.0/users/delta", params={"$deltatoken": "latest"}).json()
    assert body["value"] == []
    assert "$deltatoken=" in body["@odata.deltaLink"]
    follow = client.get(body["@odata.deltaLink"]).json()
    assert follow["value"] == []


def _ref(emulator: Emulator, object_id: str) -> dict[str, str]:
    return {"@odata.id": GRAPH_OBJECT.format(object_id)}


def _ok(response: httpx.Response, status: int = 204) -> httpx.Response:
    assert response.status_code == status, response.text
    return response


def test_delta_incremental_changes(emulator: Emulator) -> None:
    reader = emulator.client(emulator.app_token())
    admin = emulator.admin()
    users, users_link, _ = read_round(reader, f"/v1.0/users/delta?$select={USER_SELECT}")
    groups, groups_link, _ = read_round(reader, f"/v1.0/groups/delta?$select={GROUP_SELECT}")
    merged = merge_groups(groups)
    by_name = {g["displayName"]: g for g in merged.values()}
    admin_id = users[0]["id"]
    target = users[10]
    leaver = users[11]
    quiet = users[12]
    small = min(merged.values(), key=lambda g: len(g["members@delta"]))
    member_ids = {m["id"] for m in small["members@delta"]}
    joiner = next(
        u
        for u in users[1:]
        if u["id"] not in member_ids and u["id"] not in (leaver["id"], target["id"])
    )
    dropped = next(
        m
        for m in small["members@delta"]
        if m["id"] not in (leaver["id"], target["id"]) and m["@odata.type"].endswith("user")
    )

    _ok(
        admin.patch(
            f"/v1.0/users/{target['id']}",
            json={"jobTitle": "Chief Emulation Officer", "accountEnabled": False},
        )
    )
    _ok(
        admin.patch(f"/v1.0/users/{quiet['id']}", json={"city": "Oslo"})
    )  # not selected: not reported
    _ok(admin.delete(f"/v1.0/users/{leaver['id']}"))
    _ok(admin.put(f"/v1.0/users/{target['id']}/manager/$ref", json=_ref(emulator, admin_id)))
    _ok(admin.post(f"/v1.0/groups/{small['id']}/members/$ref", json=_ref(emulator, joiner["id"])))
    _ok(admin.delete(f"/v1.0/groups/{small['id']}/members/{dropped['id']}/$ref"))
    created = _ok(
        admin.post(
            "/v1.0/users",
            json={
                "accountEnabled": True,
                "displayName": "Nova Newhire",
                "mailNickname": "nova",
                "userPrincipalName": "nova@contoso.example",
                "passwordProfile": {
                    "forceChangePasswordNextSignIn": True,
                    "password": "xWwvJ]6NMw+bWH-d",
                },
            },
        ),
        201,
    ).json()
    new_group = _ok(
        admin.post(
            "/v1.0/groups",
            json={
                "displayName": "Project Nova",
                "mailEnabled": False,
                "mailNickname": "project-nova",
                "securityEnabled": True,
                "members@odata.bind": [GRAPH_OBJECT.format(created["id"])],
            },
        ),
        201,
    ).json()

    changed_users, users_link_2, _ = read_round(reader, users_link)
    by_id = {u["id"]: u for u in changed_users}
    assert set(by_id) == {target["id"], leaver["id"], created["id"]} | {
        u["id"] for u in users if u.get("manager@delta", [{}])[0].get("id") == leaver["id"]
    }
    assert by_id[target["id"]]["jobTitle"] == "Chief Emulation Officer"
    assert by_id[target["id"]]["accountEnabled"] is False
    assert by_id[target["id"]]["manager@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": admin_id}
    ]
    assert by_id[leaver["id"]] == {"id": leaver["id"], "@removed": {"reason": "changed"}}
    assert by_id[created["id"]]["displayName"] == "Nova Newhire"
    for report in (u for u in users if u.get("manager@delta", [{}])[0].get("id") == leaver["id"]):
        assert by_id[report["id"]]["manager@delta"][0]["@removed"] == {"reason": "deleted"}

    changed_groups, groups_link_2, _ = read_round(reader, groups_link)
    changes = merge_groups(changed_groups)
    assert changes[new_group["id"]]["members@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": created["id"]}
    ]
    small_delta = {(m["id"], "@removed" in m) for m in changes[small["id"]]["members@delta"]}
    assert (joiner["id"], False) in small_delta
    assert (dropped["id"], True) in small_delta
    # The deleted user left every group it was in: those groups report it removed.
    leaver_groups = {
        gid for gid, g in merged.items() if leaver["id"] in {m["id"] for m in g["members@delta"]}
    }
    assert leaver_groups
    for group_id in leaver_groups:
        removed = [m for m in changes[group_id]["members@delta"] if m["id"] == leaver["id"]]
        assert removed == [
            {
                "@odata.type": "#microsoft.graph.user",
                "id": leaver["id"],
                "@removed": {"reason": "deleted"},
            }
        ]
    assert set(changes) == leaver_groups | {small["id"], new_group["id"]}
    assert by_name["All Company"]["id"] in changes

    # Nothing happened since: the next round is empty.
    assert read_round(reader, users_link_2)[0] == []
    assert read_round(reader, groups_link_2)[0] == []

    _ok(admin.delete(f"/v1.0/groups/{new_group['id']}"))
    _ok(admin.delete(f"/v1.0/directory/deletedItems/{leaver['id']}"))
    final_groups, _, _ = read_round(reader, groups_link_2)
    assert final_groups == [{"id": new_group["id"], "@removed": {"reason": "deleted"}}]
    final_users, _, _ = read_round(reader, users_link_2)
    assert final_users == [{"id": leaver["id"], "@removed": {"reason": "deleted"}}]


def test_round_is_a_snapshot_while_the_directory_changes(emulator: Emulator) -> None:
    reader = emulator.client(emulator.app_token())
    admin = emulator.admin()
    first = reader.get(
        f"/v1.0/users/delta?$select={USER_SELECT}", headers={"Prefer": "odata.maxpagesize=10"}
    ).json()
    seen = first["value"]
    later_page = reader.get(first["@odata.nextLink"]).json()
    # Change objects the round has not reached yet, and one it has.
    victim = later_page["value"][-1]
    _ok(admin.patch(f"/v1.0/users/{victim['id']}", json={"displayName": "Renamed Mid Round"}))
    _ok(admin.patch(f"/v1.0/users/{seen[3]['id']}", json={"jobTitle": "Changed Mid Round"}))
    rest, delta_link, _ = read_round(reader, first["@odata.nextLink"])
    everyone = seen + rest
    assert len(everyone) == 50
    assert len({u["id"] for u in everyone}) == 50
    assert next(u for u in rest if u["id"] == victim["id"])["displayName"] == victim["displayName"]
    # The round's deltaLink then brings exactly what changed while it ran.
    changed, _, _ = read_round(reader, delta_link)
    assert {u["id"]: (u["displayName"], u["jobTitle"]) for u in changed} == {
        victim["id"]: ("Renamed Mid Round", victim["jobTitle"]),
        seen[3]["id"]: (seen[3]["displayName"], "Changed Mid Round"),
    }


def test_expired_tokens_answer_410_with_a_restart_location(emulator: Emulator) -> None:
    reader = emulator.client(emulator.app_token())
    first = reader.get(
        f"/v1.0/users/delta?$select={USER_SELECT}", headers={"Prefer": "odata.maxpagesize=10"}
    ).json()
    _, delta_link, _ = read_round(reader, first["@odata.nextLink"])
    expired = emulator.admin().post(f"{emulator['url']}/_emulator/expire-delta-tokens")
    assert expired.status_code == 200
    for link in (first["@odata.nextLink"], delta_link):
        gone = reader.get(link)
        assert gone.status_code == 410
        error = gone.json()["error"]
        assert error["code"] in ("syncStateNotFound", "resyncRequired")
        assert error["innerError"]["request-id"] == gone.headers["request-id"]
        location = gone.headers["location"]
        assert location.startswith(f"{emulator['graph_url']}/v1.0/users/delta?")
        restarted, _, _ = read_round(reader, location)
        assert len(restarted) == 50
        assert set(restarted[1]) >= {"displayName", "manager@delta"}
    garbage = reader.get("/v1.0/groups/delta", params={"$skiptoken": "not-a-token"})
    assert garbage.status_code == 410
    assert garbage.json()["error"]["code"] == "syncStateNotFound"
