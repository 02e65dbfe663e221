"""Bulk (RFC 7644 §3.7): bulkId references in any order, failOnErrors, and the advertised limits."""

from __future__ import annotations

import httpx

from tests.scimdata import BULK_REQUEST, group, patch, user


def bulk(scim: httpx.Client, operations: list[dict], **extra: object) -> httpx.Response:
    return scim.post("/Bulk", json={"schemas": [BULK_REQUEST], "Operations": operations, **extra})


def test_bulk_creates_and_links_by_bulk_id(scim: httpx.Client) -> None:
    response = bulk(
        scim,
        [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "alice",
                "data": user("alice@bulk.example"),
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "team",
                "data": group("Bulk team", members=["bulkId:alice"]),
            },
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]
    results = body["Operations"]
    assert [r["status"] for r in results] == ["201", "201"]
    assert results[0]["bulkId"] == "alice" and results[0]["version"] == 'W/"1"'
    alice_id = results[0]["location"].rsplit("/", 1)[1]
    team = scim.get(results[1]["location"].split("/v2", 1)[1]).json()
    assert [m["value"] for m in team["members"]] == [alice_id]


def test_forward_reference_waits_for_its_target(scim: httpx.Client) -> None:
    response = bulk(
        scim,
        [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g",
                "data": group(members=["bulkId:u"]),
            },
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": user()},
            {
                "method": "PATCH",
                "path": "/Users/bulkId:u",
                "data": patch({"op": "add", "path": "title", "value": "patched"}),
            },
        ],
    )
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "200"]
    user_location = results[1]["location"]
    assert scim.get(user_location.split("/v2", 1)[1]).json()["title"] == "patched"
    group_body = scim.get(results[0]["location"].split("/v2", 1)[1]).json()
    assert group_body["members"][0]["value"] == user_location.rsplit("/", 1)[1]


def test_circular_references_fail_with_409(scim: httpx.Client) -> None:
    response = bulk(
        scim,
        [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "a",
                "data": group(members=["bulkId:b"]),
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "b",
                "data": group(members=["bulkId:a"]),
            },
        ],
    )
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["409", "409"]
    assert "IDS-409-003" in results[0]["response"]["detail"]


def test_fail_on_errors_stops_processing(scim: httpx.Client) -> None:
    taken = user("taken@bulk.example")
    scim.post("/Users", json=taken)
    response = bulk(
        scim,
        [
            {"method": "POST", "path": "/Users", "bulkId": "x1", "data": taken},
            {"method": "POST", "path": "/Users", "bulkId": "x2", "data": {"schemas": ["nope"]}},
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "x3",
                "data": user("never@bulk.example"),
            },
        ],
        failOnErrors=2,
    )
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["409", "400"]
    assert results[0]["response"]["scimType"] == "uniqueness"
    assert (
        scim.get("/Users", params={"filter": 'userName eq "never@bulk.example"'}).json()[
            "totalResults"
        ]
        == 0
    )


def test_errors_in_one_operation_do_not_stop_the_others(scim: httpx.Client) -> None:
    response = bulk(
        scim,
        [
            {"method": "DELETE", "path": "/Users/does-not-exist"},
            {"method": "POST", "path": "/Users", "bulkId": "ok", "data": user()},
            {"method": "POST", "path": "/Users", "data": user()},
        ],
    )
    assert [r["status"] for r in response.json()["Operations"]] == ["404", "201", "400"]


def test_limits_are_advertised_and_enforced(scim: httpx.Client) -> None:
    config = scim.get("/ServiceProviderConfig").json()["bulk"]
    assert config["supported"] is True
    too_many = [
        {"method": "DELETE", "path": f"/Users/{i}"} for i in range(config["maxOperations"] + 1)
    ]
    response = bulk(scim, too_many)
    assert response.status_code == 413
    assert "IDS-413-002" in response.json()["detail"]
    big = user(title="x" * (config["maxPayloadSize"]))
    response = bulk(scim, [{"method": "POST", "path": "/Users", "bulkId": "big", "data": big}])
    assert response.status_code == 413
    assert "IDS-413-001" in response.json()["detail"]
