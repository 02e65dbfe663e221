"""Member values (RFC 7643 §4.2): anything but an object whose ``value`` is an id is refused
the same way by POST, PUT, PATCH and Bulk, before anything changes (issue 9 item 10).

A well-formed id that names no user or group of the organisation is another case, kept as
it was: skipped with a Warning (tests/api/test_entra_compat.py pins it)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.scimdata import BULK_REQUEST, GROUP, assert_scim_error, patch, unique, user


def new_user(scim: httpx.Client) -> str:
    response = scim.post("/Users", json=user())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def members(scim: httpx.Client, group_id: str) -> set[str]:
    return {m["value"] for m in scim.get(f"/Groups/{group_id}").json().get("members", [])}


def group_with(members: list[Any], name: str | None = None) -> dict[str, Any]:
    return {"schemas": [GROUP], "displayName": name or unique("group-"), "members": members}


MALFORMED = {
    "bare-id": lambda uid: uid,
    "number": lambda uid: 42,
    "null": lambda uid: None,
    "object-without-value": lambda uid: {"display": "Alice"},
    "numeric-value": lambda uid: {"value": 42},
    "blank-value": lambda uid: {"value": " "},
}


@pytest.fixture(params=sorted(MALFORMED))
def malformed(request: pytest.FixtureRequest, scim: httpx.Client) -> tuple[str, Any]:
    """A real user's id, and a malformed member value made from it."""
    uid = new_user(scim)
    return uid, MALFORMED[request.param](uid)


def test_post_refuses_a_malformed_member_and_creates_nothing(
    scim: httpx.Client, malformed: tuple[str, Any]
) -> None:
    uid, value = malformed
    name = unique("group-")
    response = scim.post("/Groups", json=group_with([{"value": uid}, value], name))
    assert_scim_error(response, 400, "invalidValue", code="IDS-400-013")
    assert "Member 2" in response.json()["detail"]
    found = scim.get("/Groups", params={"filter": f'displayName eq "{name}"'}).json()
    assert found["totalResults"] == 0


def test_put_and_patch_refuse_a_malformed_member_and_change_nothing(
    scim: httpx.Client, malformed: tuple[str, Any]
) -> None:
    _, value = malformed
    kept = new_user(scim)
    created = scim.post("/Groups", json=group_with([{"value": kept}])).json()
    gid = created["id"]
    attempts = [
        scim.put(f"/Groups/{gid}", json=group_with([value], created["displayName"])),
        scim.patch(
            f"/Groups/{gid}", json=patch({"op": "add", "path": "members", "value": [value]})
        ),
        scim.patch(
            f"/Groups/{gid}", json=patch({"op": "replace", "path": "members", "value": [value]})
        ),
        scim.patch(f"/Groups/{gid}", json=patch({"op": "add", "value": {"members": [value]}})),
        scim.patch(
            f"/Groups/{gid}", json=patch({"op": "remove", "path": "members", "value": [value]})
        ),
    ]
    for response in attempts:
        assert_scim_error(response, 400, "invalidValue", code="IDS-400-013")
    assert members(scim, gid) == {kept}
    assert scim.get(f"/Groups/{gid}").json()["meta"]["version"] == 'W/"1"'


def test_bulk_refuses_a_malformed_member_as_the_same_request_alone(
    scim: httpx.Client, malformed: tuple[str, Any]
) -> None:
    _, value = malformed
    created = scim.post("/Groups", json=group_with([])).json()
    response = scim.post(
        "/Bulk",
        json={
            "schemas": [BULK_REQUEST],
            "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": group_with([value])},
                {
                    "method": "PATCH",
                    "path": f"/Groups/{created['id']}",
                    "data": patch({"op": "add", "path": "members", "value": [value]}),
                },
            ],
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["400", "400"]
    assert all("IDS-400-013" in r["response"]["detail"] for r in results)
    assert members(scim, created["id"]) == set()
