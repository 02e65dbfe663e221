"""Concurrent clients: a retried or duplicated create never makes two users; member adds never double."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import Org
from tests.scimdata import group, patch, user


def test_parallel_creates_of_one_user_make_exactly_one(org: Org) -> None:
    body = user("race@example.com", externalId="race-1")

    def create(_: int) -> int:
        with httpx.Client(
            base_url=org.scim_url, timeout=60, headers={"Authorization": f"Bearer {org.token}"}
        ) as client:
            return client.post("/Users", json=body).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(create, range(32)))
    assert statuses.count(201) == 1
    assert statuses.count(409) == 31
    with httpx.Client(
        base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}
    ) as client:
        assert (
            client.get("/Users", params={"filter": 'externalId eq "race-1"'}).json()["totalResults"]
            == 1
        )


def test_parallel_member_adds_and_removes_stay_consistent(org: Org) -> None:
    headers = {"Authorization": f"Bearer {org.token}"}
    with httpx.Client(base_url=org.scim_url, headers=headers, timeout=60) as client:
        people = [client.post("/Users", json=user()).json()["id"] for _ in range(20)]
        group_id = client.post("/Groups", json=group()).json()["id"]

    def add_then_remove(index: int) -> tuple[int, int]:
        with httpx.Client(base_url=org.scim_url, headers=headers, timeout=60) as client:
            member = people[index % len(people)]
            added = client.patch(
                f"/Groups/{group_id}",
                json=patch({"op": "add", "path": "members", "value": [{"value": member}]}),
            ).status_code
            removed = 200
            if index % 2:
                removed = client.patch(
                    f"/Groups/{group_id}",
                    json=patch({"op": "remove", "path": f'members[value eq "{member}"]'}),
                ).status_code
            return added, removed

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(add_then_remove, range(40)))
    assert all(o == (200, 200) for o in outcomes)
    with httpx.Client(base_url=org.scim_url, headers=headers) as client:
        members = [m["value"] for m in client.get(f"/Groups/{group_id}").json()["members"]]
    assert len(members) == len(set(members))
    # Even indexes were only added; odd ones added then removed (people repeat every 20).
    assert set(members) == {people[i] for i in range(0, 20, 2)}


def _client(org: Org) -> httpx.Client:
    return httpx.Client(
        base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}, timeout=60
    )


def test_users_deleted_while_being_added_to_a_group_leave_it_cleanly(org: Org) -> None:
    """The add and the delete each succeed, in some order; the group ends without them."""
    with _client(org) as client:
        people = [client.post("/Users", json=user()).json()["id"] for _ in range(40)]
        group_id = client.post("/Groups", json=group()).json()["id"]

    def add(person: str) -> tuple[str, int, str]:
        with _client(org) as client:
            response = client.patch(
                f"/Groups/{group_id}",
                json=patch({"op": "add", "path": "members", "value": [{"value": person}]}),
            )
            return "add", response.status_code, response.text

    def delete(person: str) -> tuple[str, int, str]:
        with _client(org) as client:
            response = client.delete(f"/Users/{person}")
            return "delete", response.status_code, response.text

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(step, p) for p in people for step in (add, delete)]
        outcomes = [f.result() for f in futures]
    assert [o for o in outcomes if o[:2] not in (("add", 200), ("delete", 204))] == []
    with _client(org) as client:
        assert client.get(f"/Groups/{group_id}").json().get("members", []) == []


def test_two_groups_nested_in_each_other_at_once_make_one_nesting_and_one_cycle_error(
    org: Org,
) -> None:
    with _client(org) as client:
        pairs = [
            (
                client.post("/Groups", json=group()).json()["id"],
                client.post("/Groups", json=group()).json()["id"],
            )
            for _ in range(20)
        ]

    def nest(member: str, parent: str) -> tuple[int, str]:
        with _client(org) as client:
            response = client.patch(
                f"/Groups/{parent}",
                json=patch({"op": "add", "path": "members", "value": [{"value": member}]}),
            )
            return response.status_code, response.headers.get("x-idsync-error", "")

    with ThreadPoolExecutor(16) as pool:
        futures = [(pool.submit(nest, a, b), pool.submit(nest, b, a)) for a, b in pairs]
        outcomes = [sorted([first.result(), second.result()]) for first, second in futures]
    assert all(o == [(200, ""), (409, "IDS-409-004")] for o in outcomes), outcomes
    with _client(org) as client:
        for a, b in pairs:
            in_b = [m["value"] for m in client.get(f"/Groups/{b}").json().get("members", [])]
            in_a = [m["value"] for m in client.get(f"/Groups/{a}").json().get("members", [])]
            assert sorted([in_a, in_b]) == sorted([[], [a if in_b else b]])
