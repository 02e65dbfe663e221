"""Listing and searching: paging, sorting, projections, and /.search across types."""

from __future__ import annotations

import httpx
import pytest

from tests.scimdata import SEARCH_REQUEST, group, user


@pytest.fixture
def ten(scim: httpx.Client) -> list[dict]:
    created = []
    for i in range(10):
        body = user(
            f"user{i:02d}@paging.example",
            displayName=f"User {9 - i}",
            emails=[{"value": f"u{i}@x.example", "type": "work", "primary": True}],
        )
        created.append(scim.post("/Users", json=body).json())
    return created


def test_pages_are_stable_and_cover_everything(scim: httpx.Client, ten: list[dict]) -> None:
    seen: list[str] = []
    for start in (1, 4, 7, 10):
        page = scim.get("/Users", params={"startIndex": start, "count": 3}).json()
        assert page["totalResults"] == 10
        assert page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"])
        seen.extend(r["id"] for r in page["Resources"])
    assert sorted(seen) == sorted(u["id"] for u in ten)
    assert len(seen) == 10


def test_out_of_range_paging_values_are_clamped(scim: httpx.Client, ten: list[dict]) -> None:
    assert scim.get("/Users", params={"startIndex": 0, "count": 2}).json()["startIndex"] == 1
    empty = scim.get("/Users", params={"count": 0}).json()
    assert empty["Resources"] == [] and empty["totalResults"] == 10
    beyond = scim.get("/Users", params={"startIndex": 50}).json()
    assert beyond["Resources"] == [] and beyond["totalResults"] == 10
    assert scim.get("/Users", params={"count": -5}).json()["itemsPerPage"] == 0


def test_sort_by_attribute_both_ways(scim: httpx.Client, ten: list[dict]) -> None:
    ascending = scim.get("/Users", params={"sortBy": "displayName"}).json()["Resources"]
    assert [r["displayName"] for r in ascending] == [f"User {i}" for i in range(10)]
    descending = scim.get("/Users", params={"sortBy": "userName", "sortOrder": "descending"}).json()
    names = [r["userName"] for r in descending["Resources"]]
    assert names == sorted(names, reverse=True)
    by_email = scim.get("/Users", params={"sortBy": "emails.value"}).json()["Resources"]
    assert [r["emails"][0]["value"] for r in by_email][:3] == [
        "u0@x.example",
        "u1@x.example",
        "u2@x.example",
    ]


def test_attributes_limit_what_is_returned(scim: httpx.Client, ten: list[dict]) -> None:
    page = scim.get("/Users", params={"attributes": "userName,emails.value", "count": 1}).json()
    resource = page["Resources"][0]
    assert set(resource) == {"schemas", "id", "userName", "emails"}
    assert set(resource["emails"][0]) == {"value"}
    excluded = scim.get("/Users", params={"excludedAttributes": "emails,meta", "count": 1}).json()
    assert "emails" not in excluded["Resources"][0] and "meta" not in excluded["Resources"][0]
    assert (
        "id"
        in scim.get("/Users", params={"excludedAttributes": "id", "count": 1}).json()["Resources"][
            0
        ]
    )


def test_search_endpoint_for_one_type(scim: httpx.Client, ten: list[dict]) -> None:
    response = scim.post(
        "/Users/.search",
        json={
            "schemas": [SEARCH_REQUEST],
            "filter": 'userName sw "user0"',
            "sortBy": "userName",
            "startIndex": 2,
            "count": 3,
            "attributes": ["userName"],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["totalResults"] == 10
    assert [r["userName"] for r in body["Resources"]] == [
        f"user0{i}@paging.example" for i in (1, 2, 3)
    ]


def test_search_at_the_root_spans_users_and_groups(scim: httpx.Client, ten: list[dict]) -> None:
    scim.post("/Groups", json=group("Root search group", members=[ten[0]["id"]]))
    everything = scim.post("/.search", json={"schemas": [SEARCH_REQUEST], "count": 100}).json()
    kinds = [r["meta"]["resourceType"] for r in everything["Resources"]]
    assert everything["totalResults"] == 11
    assert kinds == ["User"] * 10 + ["Group"]
    # An attribute only one type has is simply false for the other type.
    named = scim.post(
        "/.search",
        json={
            "schemas": [SEARCH_REQUEST],
            "filter": 'displayName eq "Root search group" or userName eq "user03@paging.example"',
        },
    ).json()
    assert sorted(r["meta"]["resourceType"] for r in named["Resources"]) == ["Group", "User"]
    unknown = scim.post("/.search", json={"schemas": [SEARCH_REQUEST], "filter": "shoeSize gt 40"})
    assert unknown.status_code == 400
    assert unknown.json()["scimType"] == "invalidFilter"
    paged = scim.post(
        "/.search", json={"schemas": [SEARCH_REQUEST], "startIndex": 10, "count": 2}
    ).json()
    assert [r["meta"]["resourceType"] for r in paged["Resources"]] == ["User", "Group"]


def test_search_request_needs_its_schema(scim: httpx.Client) -> None:
    response = scim.post("/Users/.search", json={"filter": "userName pr"})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"
