"""What every stored resource holds, however it was written (POST, PUT, PATCH, Bulk):
each (type, value) pair of a multi-valued attribute once (RFC 7643 §2.4, issue 9 item 9),
and a non-blank userName and group displayName (issue 9 item 26)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.scimdata import BULK_REQUEST, GROUP, USER, assert_scim_error, group, patch, user


def create(scim: httpx.Client, body: dict[str, Any], endpoint: str = "/Users") -> dict[str, Any]:
    response = scim.post(endpoint, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def bulk(scim: httpx.Client, *operations: dict[str, Any]) -> list[dict[str, Any]]:
    response = scim.post("/Bulk", json={"schemas": [BULK_REQUEST], "Operations": list(operations)})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["Operations"]
    return results


WORK = {"value": "bjensen@example.com", "type": "work"}
# emails.value is not caseExact (RFC 7643 §4.1.2): the same address, however spelt.
WORK_AGAIN = {"value": "BJensen@Example.com", "type": "Work", "primary": True}
HOME = {"value": "bjensen@example.com", "type": "home"}


# --- item 9: the same (type, value) pair is stored once ----------------------------------------


def test_a_value_sent_twice_in_a_post_is_stored_once_with_the_later_sub_attributes(
    scim: httpx.Client,
) -> None:
    created = create(scim, user(emails=[WORK, HOME, WORK_AGAIN]))
    expected = [WORK_AGAIN, HOME]
    assert created["emails"] == expected
    assert scim.get(f"/Users/{created['id']}").json()["emails"] == expected


def test_a_value_sent_twice_in_a_put_is_stored_once(scim: httpx.Client) -> None:
    created = create(scim, user())
    replaced = scim.put(
        f"/Users/{created['id']}",
        json={"schemas": [USER], "userName": created["userName"], "emails": [WORK, WORK]},
    )
    assert replaced.status_code == 200, replaced.text
    assert scim.get(f"/Users/{created['id']}").json()["emails"] == [WORK]


def test_adding_a_value_already_there_changes_nothing(scim: httpx.Client) -> None:
    """RFC 7644 §3.5.2.1: "If the target location already contains the value specified,
    no changes SHOULD be made to the resource"."""
    created = create(scim, user(emails=[WORK]))
    response = scim.patch(
        f"/Users/{created['id']}",
        json=patch({"op": "add", "path": "emails", "value": [dict(WORK), dict(WORK)]}),
    )
    assert response.status_code == 200, response.text
    fetched = scim.get(f"/Users/{created['id']}").json()
    assert fetched["emails"] == [WORK]
    assert fetched["meta"]["version"] == 'W/"1"'


def test_a_patch_that_makes_two_values_equal_keeps_one(scim: httpx.Client) -> None:
    created = create(scim, user(emails=[WORK, HOME]))
    response = scim.patch(
        f"/Users/{created['id']}",
        json=patch({"op": "replace", "path": 'emails[type eq "home"].type', "value": "work"}),
    )
    assert response.status_code == 200, response.text
    assert scim.get(f"/Users/{created['id']}").json()["emails"] == [WORK]


def test_a_value_sent_twice_in_a_bulk_post_is_stored_once(scim: httpx.Client) -> None:
    results = bulk(
        scim,
        {"method": "POST", "path": "/Users", "bulkId": "u", "data": user(emails=[WORK, WORK])},
    )
    assert results[0]["status"] == "201"
    location = results[0]["location"].split("/v2", 1)[1]
    assert scim.get(location).json()["emails"] == [WORK]


# --- item 26: a required name is never empty ----------------------------------------------------

BLANKS = ["", "   ", "\t\u00a0"]


def named_user(name: str) -> dict[str, Any]:
    return {"schemas": [USER], "userName": name}


def named_group(name: str) -> dict[str, Any]:
    return {"schemas": [GROUP], "displayName": name}


@pytest.mark.parametrize("blank", BLANKS)
def test_a_user_or_group_with_a_blank_name_is_not_created(scim: httpx.Client, blank: str) -> None:
    assert_scim_error(
        scim.post("/Users", json=named_user(blank)), 400, "invalidValue", code="IDS-400-012"
    )
    assert_scim_error(
        scim.post("/Groups", json=named_group(blank)), 400, "invalidValue", code="IDS-400-012"
    )
    # A fresh organisation: nothing was stored.
    assert scim.get("/Users").json()["totalResults"] == 0
    assert scim.get("/Groups").json()["totalResults"] == 0


@pytest.mark.parametrize("blank", BLANKS)
def test_a_name_cannot_be_blanked_by_put_or_patch(scim: httpx.Client, blank: str) -> None:
    person = create(scim, user())
    team = create(scim, group(), "/Groups")
    attempts = [
        scim.put(f"/Users/{person['id']}", json=named_user(blank)),
        scim.patch(
            f"/Users/{person['id']}",
            json=patch({"op": "replace", "path": "userName", "value": blank}),
        ),
        scim.patch(
            f"/Users/{person['id']}", json=patch({"op": "replace", "value": {"userName": blank}})
        ),
        scim.put(f"/Groups/{team['id']}", json=named_group(blank)),
        scim.patch(
            f"/Groups/{team['id']}",
            json=patch({"op": "replace", "path": "displayName", "value": blank}),
        ),
    ]
    for response in attempts:
        assert_scim_error(response, 400, "invalidValue", code="IDS-400-012")
    assert scim.get(f"/Users/{person['id']}").json()["userName"] == person["userName"]
    assert scim.get(f"/Groups/{team['id']}").json()["displayName"] == team["displayName"]


def test_bulk_refuses_blank_names_operation_by_operation(scim: httpx.Client) -> None:
    person = create(scim, user())
    results = bulk(
        scim,
        {"method": "POST", "path": "/Users", "bulkId": "u", "data": named_user(" ")},
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": named_group("")},
        {
            "method": "PATCH",
            "path": f"/Users/{person['id']}",
            "data": patch({"op": "replace", "path": "userName", "value": ""}),
        },
    )
    assert [r["status"] for r in results] == ["400", "400", "400"]
    assert {r["response"]["scimType"] for r in results} == {"invalidValue"}
    assert all("IDS-400-012" in r["response"]["detail"] for r in results)
    assert scim.get(f"/Users/{person['id']}").json()["userName"] == person["userName"]
