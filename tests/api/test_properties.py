"""Properties over HTTP: any filter string is answered 200 or 400; PATCH then GET shows what was asked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Org, make_org
from tests.scimdata import patch, user

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def client(database: Any, server: Any) -> httpx.Client:
    org: Org = make_org(database, server)
    return httpx.Client(
        base_url=org.scim_url,
        timeout=30,
        headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/scim+json"},
    )


filter_texts = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda a, op, v: f"{a} {op} {v}",
        st.sampled_from(
            [
                "userName",
                "emails.value",
                "emails[type",
                "meta.created",
                "x",
                "active",
                "name.givenName",
                "groups",
                "members",
                "urn:x:y:z",
                "id",
            ]
        ),
        st.sampled_from(["eq", "ne", "co", "sw", "gt", "pr", "and", "or", "["]),
        st.sampled_from(['"a"', "1", "true", "null", '"2020-01-01T00:00:00Z"', "]", '"\\"', ""]),
    ),
)


@FUZZ
@given(filter_texts)
def test_any_filter_is_answered_200_or_400(client: httpx.Client, text: str) -> None:
    for response in (
        client.get("/Users", params={"filter": text}),
        client.post(
            "/Groups/.search",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": text,
            },
        ),
    ):
        assert response.status_code in (200, 400), (text, response.text)
        if response.status_code == 400:
            assert response.json()["scimType"] in ("invalidFilter", "sensitive", "invalidValue")


scalar_paths = st.sampled_from(
    [
        "title",
        "displayName",
        "nickName",
        "userType",
        "locale",
        "title",
        "name.givenName",
        "name.familyName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    ]
)
texts = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30)


def read(body: dict[str, Any], path: str) -> Any:
    if ":" in path and path.startswith("urn:"):
        urn, _, attribute = path.rpartition(":")
        return body.get(urn, {}).get(attribute)
    node: Any = body
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "replace", "remove"]), scalar_paths, texts),
        min_size=1,
        max_size=6,
    )
)
def test_patch_then_get_shows_what_was_asked(
    client: httpx.Client, operations: list[tuple[str, str, str]]
) -> None:
    created = client.post("/Users", json=user()).json()
    expected: dict[str, Any] = {}
    body = patch(
        *[
            {"op": op, "path": path, **({"value": value} if op != "remove" else {})}
            for op, path, value in operations
        ]
    )
    for op, path, value in operations:
        expected[path] = None if op == "remove" else value
    response = client.patch(f"/Users/{created['id']}", json=body)
    assert response.status_code == 200, response.text
    fetched = client.get(f"/Users/{created['id']}").json()
    for path, value in expected.items():
        assert read(fetched, path) == value, (path, fetched)
    assert fetched == response.json()


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 5)), min_size=1, max_size=12
    )
)
def test_member_patches_match_a_set_model(
    client: httpx.Client, steps: list[tuple[str, int]]
) -> None:
    people = [client.post("/Users", json=user()).json()["id"] for _ in range(6)]
    group_id = client.post(
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": f"g-{people[0]}",
        },
    ).json()["id"]
    model: set[str] = set()
    ops = []
    for op, index in steps:
        member = people[index]
        if op == "add":
            ops.append({"op": "add", "path": "members", "value": [{"value": member}]})
            model.add(member)
        else:
            ops.append({"op": "remove", "path": f'members[value eq "{member}"]'})
            model.discard(member)
    assert client.patch(f"/Groups/{group_id}", json=patch(*ops)).status_code == 200
    members = client.get(f"/Groups/{group_id}").json().get("members", [])
    assert {m["value"] for m in members} == model
    assert len(members) == len(model)
