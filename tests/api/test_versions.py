"""ETags and meta.version (RFC 7644 §3.14): conditional writes and reads."""

from __future__ import annotations

import httpx

from tests.scimdata import patch, user


def test_stale_if_match_is_412_and_changes_nothing(scim: httpx.Client) -> None:
    created = scim.post("/Users", json=user(title="one")).json()
    path = f"/Users/{created['id']}"
    first = scim.patch(
        path,
        json=patch({"op": "replace", "path": "title", "value": "two"}),
        headers={"If-Match": created["meta"]["version"]},
    )
    assert first.status_code == 200
    assert first.headers["etag"] == 'W/"2"'
    stale = scim.patch(
        path,
        json=patch({"op": "replace", "path": "title", "value": "three"}),
        headers={"If-Match": created["meta"]["version"]},
    )
    assert stale.status_code == 412
    assert "IDS-412-001" in stale.json()["detail"]
    assert 'W/"2"' in stale.json()["detail"]
    assert scim.get(path).json()["title"] == "two"


def test_if_match_on_put_and_delete(scim: httpx.Client) -> None:
    created = scim.post("/Users", json=user()).json()
    path = f"/Users/{created['id']}"
    body = {"schemas": created["schemas"], "userName": created["userName"], "title": "x"}
    assert scim.put(path, json=body, headers={"If-Match": 'W/"7"'}).status_code == 412
    assert scim.put(path, json=body, headers={"If-Match": '"1"'}).status_code == 200
    assert scim.delete(path, headers={"If-Match": 'W/"1"'}).status_code == 412
    assert scim.delete(path, headers={"If-Match": "*"}).status_code == 204


def test_if_none_match_returns_304_while_unchanged(scim: httpx.Client) -> None:
    created = scim.post("/Users", json=user()).json()
    path = f"/Users/{created['id']}"
    etag = scim.get(path).headers["etag"]
    unchanged = scim.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    scim.patch(path, json=patch({"op": "add", "path": "title", "value": "new"}))
    assert scim.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_last_modified_moves_with_each_change(scim: httpx.Client) -> None:
    created = scim.post("/Users", json=user()).json()
    path = f"/Users/{created['id']}"
    changed = scim.patch(path, json=patch({"op": "add", "path": "title", "value": "x"})).json()
    assert changed["meta"]["lastModified"] >= created["meta"]["lastModified"]
    newer = scim.get(
        "/Users",
        params={
            "filter": f'meta.lastModified ge "{changed["meta"]["lastModified"]}" and id eq "{created["id"]}"'
        },
    )
    assert newer.json()["totalResults"] == 1
