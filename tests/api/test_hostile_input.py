"""Hostile input: deep JSON, control characters, NUL, huge integers. Always 4xx, never 5xx.

RFC 8259 §9 lets a server limit nesting depth; §7 allows control characters in a
JSON string only escaped, and RFC 7644 §3.4.2.2 makes a filter's compValue a JSON
value, so a raw tab inside a quoted filter value is a syntax error. PostgreSQL text
cannot hold U+0000, so idsync refuses it on both databases alike.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Org, make_org
from tests.scimdata import (
    BULK_REQUEST,
    ERROR,
    PATCH_OP,
    SEARCH_REQUEST,
    assert_scim_error,
    group,
    patch,
    user,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def client(database: Any, server: Any) -> httpx.Client:
    org: Org = make_org(database, server)
    return httpx.Client(
        base_url=org.scim_url,
        timeout=30,
        headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/scim+json"},
    )


@pytest.fixture(scope="module")
def targets(client: httpx.Client) -> dict[str, str]:
    """A user and a group that PUT and PATCH can reach, so bodies are read, not 404'd."""
    user_id = client.post("/Users", json=user()).json()["id"]
    group_id = client.post("/Groups", json=group()).json()["id"]
    return {"User": user_id, "Group": group_id}


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


DEEP = "__deep__"


def with_deep(body: Any, depth: int) -> str:
    """``body`` as JSON text with ``DEEP`` replaced by JSON nested ``depth`` levels deep
    (written as text: no encoder recurses that deep)."""
    opening = "".join("[" if level % 2 else '{"x":' for level in reversed(range(depth)))
    closing = "".join("]" if level % 2 else "}" for level in range(depth))
    return json.dumps(body).replace(f'"{DEEP}"', f'{opening}"leaf"{closing}')


def send_json(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    # The standard library's encoder: it writes integers beyond 64 bits (orjson cannot).
    return client.request(method, path, content=json.dumps(body))


# --- the cases found by hand ----------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 400, 2000])
def test_json_nested_hundreds_of_levels_is_refused_in_any_body(
    client: httpx.Client, targets: dict[str, str], depth: int
) -> None:
    requests = [
        ("POST", "/Users", user(title=DEEP)),
        ("PUT", f"/Users/{targets['User']}", user(title=DEEP)),
        ("PATCH", f"/Users/{targets['User']}", patch({"op": "add", "value": DEEP})),
        ("POST", "/Users/.search", {"schemas": [SEARCH_REQUEST], "filter": DEEP}),
        (
            "POST",
            "/Bulk",
            {
                "schemas": [BULK_REQUEST],
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "a", "data": user(x=DEEP)}
                ],
            },
        ),
    ]
    for method, path, body in requests:
        response = client.request(method, path, content=with_deep(body, depth))
        assert_scim_error(response, 400, "invalidSyntax", code="IDS-400-017")


def test_a_body_nested_within_the_limit_is_read(client: httpx.Client) -> None:
    response = send_json(client, "POST", "/Users", user(title=nested(20)))
    # Read and judged on its merits: a title must be a string.
    assert_scim_error(response, 400, "invalidValue", code="IDS-400-003")


@pytest.mark.parametrize("character", ["\t", "\n", "\x01", "\x1f", "\x7f\x00"])
def test_a_raw_control_character_in_a_quoted_filter_value_is_an_invalid_filter(
    client: httpx.Client, character: str
) -> None:
    for text in (f'userName eq "a{character}b"', f'userName eq "a{character}b" or title pr'):
        response = client.get("/Users", params={"filter": text})
        assert response.status_code == 400, response.text
        assert response.json()["scimType"] in ("invalidFilter", "invalidValue")


def test_an_escaped_control_character_in_a_filter_value_is_a_value(client: httpx.Client) -> None:
    response = client.get("/Users", params={"filter": 'userName eq "a\\tb"'})
    assert response.status_code == 200, response.text
    assert response.json()["totalResults"] == 0


@pytest.mark.parametrize("start_index", [2**63, 2**64 - 1, 2**70, 10**40])
def test_a_start_index_beyond_64_bits_is_refused(client: httpx.Client, start_index: int) -> None:
    response = client.get("/Users", params={"startIndex": str(start_index)})
    assert_scim_error(response, 400, "invalidValue", code="IDS-400-010")
    assert "startIndex" in response.json()["detail"]
    search = send_json(
        client,
        "POST",
        "/.search",
        {"schemas": [SEARCH_REQUEST], "startIndex": start_index},
    )
    assert_scim_error(search, 400, "invalidValue", code="IDS-400-010")


def test_the_largest_64_bit_start_index_is_an_empty_page(client: httpx.Client) -> None:
    response = client.get("/Users", params={"startIndex": str(2**63 - 1)})
    assert response.status_code == 200, response.text
    assert response.json()["Resources"] == []


def test_a_nul_anywhere_is_refused_with_400(client: httpx.Client, targets: dict[str, str]) -> None:
    user_id = targets["User"]
    responses = [
        send_json(client, "POST", "/Users", user("nul\x00name@example.com")),
        send_json(client, "POST", "/Users", user(title="a\x00b")),
        send_json(client, "POST", "/Users", {**user(), "x\x00": "y"}),
        send_json(
            client,
            "PATCH",
            f"/Users/{user_id}",
            patch({"op": "replace", "path": "title", "value": "\x00"}),
        ),
        send_json(
            client,
            "POST",
            "/Bulk",
            {
                "schemas": [BULK_REQUEST],
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "n", "data": user(title="\x00")}
                ],
            },
        ),
        client.get(f"/Users/{user_id}%00"),
        client.delete("/Users/a%00b"),
        client.get("/Users", params={"filter": 'userName eq "a\\u0000b"'}),
        client.get("/Users", params={"filter": 'title eq "a\\u0000" or userName pr'}),
        client.get("/Users", params={"attributes": "userName\x00"}),
    ]
    for response in responses:
        assert_scim_error(response, 400, "invalidValue", code="IDS-400-016")


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(client: httpx.Client) -> None:
    response = client.get("/Users", params={"filter": 'userName eq "a\\\\u0000b"'})
    assert response.status_code == 200, response.text


# --- the property -------------------------------------------------------------------------

control_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.characters(categories=["Cc"])),
    max_size=12,
)
huge_integers = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=2**200),
    st.integers(max_value=-(2**63) + 2, min_value=-(2**200)),
)
depths = st.integers(min_value=1, max_value=600)
hostile_values = st.one_of(
    control_text, huge_integers, depths.map(nested), st.floats(allow_nan=False)
)


@st.composite
def hostile_requests(draw: st.DrawFn, targets: dict[str, str]) -> tuple[str, str, Any, Any]:
    """(method, path, query params, JSON body) with something hostile somewhere."""
    kind = draw(st.sampled_from(["User", "Group"]))
    collection = f"/{kind}s"
    known_id = targets[kind]
    resource = user() if kind == "User" else group()
    value = draw(hostile_values)
    key = draw(
        st.one_of(st.sampled_from(["title", "displayName", "externalId", "x"]), control_text)
    )
    shaped = {**resource, key: value}
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return "GET", collection, {"filter": f'userName eq "{draw(control_text)}"'}, None
    if choice == 1:
        params = {
            draw(st.sampled_from(["startIndex", "count", "attributes", "sortBy"])): str(
                draw(st.one_of(huge_integers, control_text))
            )
        }
        return "GET", collection, params, None
    if choice == 2:
        return (
            draw(st.sampled_from(["GET", "DELETE", "PUT"])),
            f"{collection}/{quote(draw(control_text), safe='')}",
            {},
            shaped,
        )
    if choice == 3:
        return "POST", collection, {}, shaped
    if choice == 4:
        return "PUT", f"{collection}/{known_id}", {}, shaped
    if choice == 5:
        operation = {"op": draw(st.sampled_from(["add", "replace", "remove"])), "value": value}
        if draw(st.booleans()):
            operation["path"] = draw(st.one_of(control_text, st.sampled_from(["title", "members"])))
        return (
            "PATCH",
            f"{collection}/{known_id}",
            {},
            {"schemas": [PATCH_OP], "Operations": [operation]},
        )
    if choice == 6:
        field = draw(st.sampled_from(["filter", "startIndex", "count", "sortBy", "attributes"]))
        path = draw(st.sampled_from([f"{collection}/.search", "/.search"]))
        return "POST", path, {}, {"schemas": [SEARCH_REQUEST], field: value}
    if choice == 7:
        operation = {"method": "POST", "path": collection, "bulkId": "b", "data": shaped}
        bulk: dict[str, Any] = {"schemas": [BULK_REQUEST], "Operations": [operation]}
        if draw(st.booleans()):
            bulk["failOnErrors"] = draw(huge_integers)
        return "POST", "/Bulk", {}, bulk
    if choice == 8:
        path = draw(st.sampled_from(["/Schemas", "/ResourceTypes"]))
        return "GET", f"{path}/{quote(draw(control_text), safe='')}", {}, None
    return "POST", collection, {}, value


@FUZZ
@given(data=st.data())
def test_hostile_input_is_answered_4xx_with_a_scim_error_never_5xx(
    client: httpx.Client, targets: dict[str, str], data: st.DataObject
) -> None:
    method, path, params, body = data.draw(hostile_requests(targets))
    content = None if body is None else json.dumps(body)
    response = client.request(method, path, params=params, content=content)
    assert response.status_code < 500, (method, path, params, content, response.text)
    if response.status_code >= 400:
        error = response.json()
        assert error["schemas"] == [ERROR], response.text
        assert error["status"] == str(response.status_code)
