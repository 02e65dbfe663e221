"""Group membership as rows: deltas, nesting, cycles, and what deleting a member does."""

from __future__ import annotations

import httpx

from tests.scimdata import GROUP, group, patch, user


def new_user(scim: httpx.Client, **attributes: object) -> str:
    response = scim.post("/Users", json=user(**attributes))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def new_group(scim: httpx.Client, members: list[str] | None = None, **attributes: object) -> dict:
    response = scim.post("/Groups", json=group(members=members, **attributes))
    assert response.status_code == 201, response.text
    return dict(response.json())


def members(scim: httpx.Client, group_id: str) -> set[str]:
    body = scim.get(f"/Groups/{group_id}").json()
    return {m["value"] for m in body.get("members", [])}


def test_group_created_with_members_lists_them_as_users(scim: httpx.Client) -> None:
    alice, bob = new_user(scim), new_user(scim)
    created = new_group(scim, [alice, bob])
    assert {m["value"] for m in created["members"]} == {alice, bob}
    for member in created["members"]:
        assert member["type"] == "User"
        assert member["$ref"].endswith(f"/Users/{member['value']}")


def test_add_and_remove_one_member(scim: httpx.Client) -> None:
    alice, bob = new_user(scim), new_user(scim)
    created = new_group(scim, [alice])
    added = scim.patch(
        f"/Groups/{created['id']}",
        json=patch({"op": "add", "path": "members", "value": [{"value": bob}]}),
    )
    assert added.status_code == 200
    assert members(scim, created["id"]) == {alice, bob}
    removed = scim.patch(
        f"/Groups/{created['id']}",
        json=patch({"op": "remove", "path": f'members[value eq "{alice}"]'}),
    )
    assert removed.status_code == 200
    assert members(scim, created["id"]) == {bob}
    assert scim.get(f"/Groups/{created['id']}").json()["meta"]["version"] == 'W/"3"'


def test_adding_an_existing_member_changes_nothing(scim: httpx.Client) -> None:
    alice = new_user(scim)
    created = new_group(scim, [alice])
    again = scim.patch(
        f"/Groups/{created['id']}",
        json=patch({"op": "add", "path": "members", "value": [{"value": alice}]}),
    )
    assert again.status_code == 200
    assert again.json()["meta"]["version"] == created["meta"]["version"]
    assert [m["value"] for m in again.json()["members"]] == [alice]


def test_replace_members_sets_exactly_the_given_ones(scim: httpx.Client) -> None:
    a, b, c = new_user(scim), new_user(scim), new_user(scim)
    created = new_group(scim, [a, b])
    scim.patch(
        f"/Groups/{created['id']}",
        json=patch({"op": "replace", "path": "members", "value": [{"value": b}, {"value": c}]}),
    )
    assert members(scim, created["id"]) == {b, c}


def test_remove_all_members(scim: httpx.Client) -> None:
    created = new_group(scim, [new_user(scim), new_user(scim)])
    response = scim.patch(
        f"/Groups/{created['id']}", json=patch({"op": "remove", "path": "members"})
    )
    assert response.status_code == 200
    assert members(scim, created["id"]) == set()


def test_remove_members_by_type_filter(scim: httpx.Client) -> None:
    alice = new_user(scim)
    inner = new_group(scim)
    outer = new_group(scim, [alice, inner["id"]])
    scim.patch(
        f"/Groups/{outer['id']}", json=patch({"op": "remove", "path": 'members[type eq "Group"]'})
    )
    assert members(scim, outer["id"]) == {alice}


def test_put_replaces_members(scim: httpx.Client) -> None:
    a, b = new_user(scim), new_user(scim)
    created = new_group(scim, [a])
    response = scim.put(
        f"/Groups/{created['id']}",
        json={"schemas": [GROUP], "displayName": created["displayName"], "members": [{"value": b}]},
    )
    assert response.status_code == 200, response.text
    assert members(scim, created["id"]) == {b}


def test_unknown_member_is_not_stored_and_is_reported(scim: httpx.Client) -> None:
    alice = new_user(scim)
    created = new_group(scim)
    response = scim.patch(
        f"/Groups/{created['id']}",
        json=patch(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": alice}, {"value": "fake-member-id"}],
            }
        ),
    )
    assert response.status_code == 200
    assert "fake-member-id" in response.headers["warning"]
    assert members(scim, created["id"]) == {alice}


def test_nested_group_member_and_indirect_user_groups(scim: httpx.Client) -> None:
    alice = new_user(scim)
    team = new_group(scim, [alice], displayName="Team")
    division = new_group(scim, [team["id"]], displayName="Division")
    body = scim.get(f"/Users/{alice}").json()
    by_id = {g["value"]: g for g in body["groups"]}
    assert by_id[team["id"]]["type"] == "direct"
    assert by_id[team["id"]]["display"] == "Team"
    assert by_id[division["id"]]["type"] == "indirect"
    assert scim.get(f"/Groups/{division['id']}").json()["members"][0]["type"] == "Group"


def test_nesting_a_group_in_itself_or_its_members_is_refused(scim: httpx.Client) -> None:
    inner = new_group(scim)
    outer = new_group(scim, [inner["id"]])
    to_self = scim.patch(
        f"/Groups/{outer['id']}",
        json=patch({"op": "add", "path": "members", "value": [{"value": outer["id"]}]}),
    )
    assert to_self.status_code == 409
    assert "IDS-409-004" in to_self.json()["detail"]
    cycle = scim.patch(
        f"/Groups/{inner['id']}",
        json=patch({"op": "add", "path": "members", "value": [{"value": outer["id"]}]}),
    )
    assert cycle.status_code == 409
    assert members(scim, inner["id"]) == set()


def test_deleting_a_user_removes_its_memberships_and_bumps_the_group(scim: httpx.Client) -> None:
    alice, bob = new_user(scim), new_user(scim)
    created = new_group(scim, [alice, bob])
    assert scim.delete(f"/Users/{alice}").status_code == 204
    fetched = scim.get(f"/Groups/{created['id']}").json()
    assert {m["value"] for m in fetched["members"]} == {bob}
    assert fetched["meta"]["version"] == 'W/"2"'
    assert fetched["meta"]["lastModified"] >= created["meta"]["lastModified"]


def test_deleting_a_nested_group_removes_it_from_its_parent(scim: httpx.Client) -> None:
    inner = new_group(scim)
    outer = new_group(scim, [inner["id"]])
    assert scim.delete(f"/Groups/{inner['id']}").status_code == 204
    assert members(scim, outer["id"]) == set()


def test_excluded_members_are_not_returned(scim: httpx.Client) -> None:
    created = new_group(scim, [new_user(scim)])
    single = scim.get(f"/Groups/{created['id']}", params={"excludedAttributes": "members"}).json()
    assert "members" not in single
    assert single["displayName"] == created["displayName"]
    listed = scim.get(
        "/Groups",
        params={
            "excludedAttributes": "members",
            "filter": f'displayName eq "{created["displayName"]}"',
        },
    ).json()
    assert listed["totalResults"] == 1
    assert "members" not in listed["Resources"][0]


def test_patch_can_answer_without_a_body(scim: httpx.Client) -> None:
    created = new_group(scim)
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers={"Prefer": "return=minimal"},
        json=patch({"op": "add", "path": "members", "value": [{"value": new_user(scim)}]}),
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["etag"] == 'W/"2"'


def test_group_display_name_is_unique(scim: httpx.Client) -> None:
    new_group(scim, displayName="Sales")
    again = scim.post("/Groups", json=group("sales"))
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"


def test_filter_groups_by_member(scim: httpx.Client) -> None:
    alice = new_user(scim)
    with_alice = new_group(scim, [alice])
    new_group(scim, [new_user(scim)])
    found = scim.get("/Groups", params={"filter": f'members eq "{alice}"'}).json()
    assert [g["id"] for g in found["Resources"]] == [with_alice["id"]]
    found = scim.get(
        "/Groups", params={"filter": f'members[value eq "{alice}" and type eq "User"]'}
    ).json()
    assert [g["id"] for g in found["Resources"]] == [with_alice["id"]]


def test_org_can_choose_minimal_group_patch_responses(
    scim: httpx.Client, org: object, database: object
) -> None:
    """Entra ID prefers 204 for group PATCH; an org can make that its default."""
    from idsync.manage import orgs as org_settings

    org_settings.set_group_patch_response(database, org.id, "minimal", actor="tests")  # type: ignore[arg-type, attr-defined]
    created = new_group(scim)
    alice = new_user(scim)
    add = patch({"op": "add", "path": "members", "value": [{"value": alice}]})
    response = scim.patch(f"/Groups/{created['id']}", json=add)
    assert response.status_code == 204
    assert response.headers["etag"] == 'W/"2"'
    assert members(scim, created["id"]) == {alice}
    asked = scim.patch(
        f"/Groups/{created['id']}",
        headers={"Prefer": "return=representation"},
        json=patch({"op": "replace", "path": "displayName", "value": "Renamed"}),
    )
    assert asked.status_code == 200
    assert asked.json()["displayName"] == "Renamed"
    user_patch = scim.patch(
        f"/Users/{alice}", json=patch({"op": "add", "path": "title", "value": "x"})
    )
    assert user_patch.status_code == 200
