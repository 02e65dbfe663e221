"""Every error a client can trigger: a stable code, a tracking ID, the right scimType, never a 500."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from idsync.store.database import open_database
from idsync.store.migrate import upgrade
from tests.conftest import (
    POSTGRES_URL,
    Org,
    Server,
    _postgres_schema,
    make_org,
    start_server,
    stop_server,
)
from tests.scimdata import DETAIL_SUFFIX as TRACKING
from tests.scimdata import assert_scim_error, patch, user


def assert_error(
    response: httpx.Response, status: int, code: str, scim_type: str | None = None
) -> None:
    assert_scim_error(response, status, scim_type, code=code, exact_type=True)


def test_every_response_carries_a_tracking_id(scim: httpx.Client, server: Server) -> None:
    responses = [
        scim.get("/Users"),
        scim.get("/ServiceProviderConfig"),
        httpx.get(f"{server.url}/healthz"),
    ]
    ids = [r.headers["x-tracking-id"] for r in responses]
    assert all(i.startswith("IDS_") for i in ids)
    assert len(set(ids)) == 3


def test_the_log_line_of_a_failed_request_carries_its_tracking_id(
    scim: httpx.Client, server: Server
) -> None:
    response = scim.get("/Users", params={"filter": "userName eq"})
    tracking_id = response.headers["x-tracking-id"]
    lines = [json.loads(line) for line in server.log_lines_with(tracking_id)]
    assert len(lines) == 1
    assert lines[0]["status"] == 400
    assert lines[0]["error_code"] == "IDS-400-001"
    assert lines[0]["path"].endswith("/Users")


@pytest.mark.parametrize(
    ("params", "code", "scim_type"),
    [
        ({"filter": "userName eq"}, "IDS-400-001", "invalidFilter"),
        ({"filter": 'nosuch eq "x"'}, "IDS-400-001", "invalidFilter"),
        ({"filter": "active gt true"}, "IDS-400-001", "invalidFilter"),
        ({"filter": 'active eq "yes please"'}, "IDS-400-001", "invalidFilter"),
        ({"filter": 'meta.created gt "yesterday"'}, "IDS-400-001", "invalidFilter"),
        ({"filter": 'emails[type eq "work"'}, "IDS-400-001", "invalidFilter"),
        ({"filter": 'password eq "hunter2"'}, "IDS-400-009", "sensitive"),
        ({"count": "ten"}, "IDS-400-010", "invalidValue"),
        ({"sortOrder": "sideways"}, "IDS-400-010", "invalidValue"),
        ({"attributes": "nosuch"}, "IDS-400-010", "invalidValue"),
        ({"attributes": "userName", "excludedAttributes": "title"}, "IDS-400-010", "invalidValue"),
    ],
)
def test_bad_query_parameters(
    scim: httpx.Client, params: dict[str, str], code: str, scim_type: str
) -> None:
    assert_error(scim.get("/Users", params=params), 400, code, scim_type)


def test_malformed_json_is_invalid_syntax(scim: httpx.Client) -> None:
    response = scim.post(
        "/Users", content=b'{"schemas": [', headers={"Content-Type": "application/scim+json"}
    )
    assert_error(response, 400, "IDS-400-004", "invalidSyntax")


def test_body_of_the_wrong_shape(scim: httpx.Client) -> None:
    assert_error(scim.post("/Users", json=["a", "list"]), 400, "IDS-400-004", "invalidSyntax")
    assert_error(
        scim.post("/Users", json={"not": "a scim resource"}), 400, "IDS-400-004", "invalidSyntax"
    )


def test_patch_errors(scim: httpx.Client) -> None:
    user_id = scim.post("/Users", json=user()).json()["id"]
    cases = [
        (patch({"op": "jump", "path": "title", "value": "x"}), "IDS-400-004", "invalidSyntax"),
        (
            {"Operations": [{"op": "add", "path": "title", "value": "x"}]},
            "IDS-400-004",
            "invalidSyntax",
        ),
        (patch({"op": "remove"}), "IDS-400-005", "noTarget"),
        (patch({"op": "add", "path": "title[", "value": "x"}), "IDS-400-002", "invalidPath"),
        (patch({"op": "add", "path": "nosuch", "value": "x"}), "IDS-400-002", "invalidPath"),
        (
            patch({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}),
            "IDS-400-006",
            "mutability",
        ),
        (
            patch({"op": "replace", "path": "active", "value": "perhaps"}),
            "IDS-400-003",
            "invalidValue",
        ),
    ]
    for body, code, scim_type in cases:
        assert_error(scim.patch(f"/Users/{user_id}", json=body), 400, code, scim_type)


def test_payload_too_large(scim: httpx.Client) -> None:
    response = scim.post("/Users", json=user(title="x" * 1_100_000))
    assert_error(response, 413, "IDS-413-001", "tooMany")


def test_method_not_allowed_on_discovery(scim: httpx.Client) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = scim.request(method, "/ServiceProviderConfig", json={})
        assert_error(response, 405, "IDS-405-001")


def test_unknown_endpoint(scim: httpx.Client) -> None:
    assert_error(scim.get("/Widgets"), 404, "IDS-404-003")
    assert_error(scim.get("/Users/a/b"), 404, "IDS-404-003")


def test_unknown_path_outside_scim(server: Server) -> None:
    response = httpx.get(f"{server.url}/nowhere")
    assert_error(response, 404, "IDS-404-003")


def test_not_acceptable_and_unsupported_media_type(scim: httpx.Client) -> None:
    assert_error(scim.get("/Users", headers={"Accept": "text/html"}), 406, "IDS-406-001")
    response = scim.post(
        "/Users",
        content=b"userName=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 415, "IDS-415-001")


def test_json_content_type_is_accepted(scim: httpx.Client) -> None:
    response = scim.post(
        "/Users", json=user(), headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 201


def test_me_is_not_implemented_and_says_why(scim: httpx.Client) -> None:
    response = scim.get("/Me")
    assert_error(response, 501, "IDS-501-001")
    assert "organisation, not to a user" in response.json()["detail"]


def test_garbage_never_causes_a_500(scim: httpx.Client, org: Org) -> None:
    user_id = scim.post("/Users", json=user()).json()["id"]
    bodies: list[object] = [
        None,
        0,
        "",
        "x",
        [],
        {},
        {"schemas": None},
        {"schemas": [1, 2]},
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": "x"},
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 5},
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": ""},
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "a",
            "emails": [{"value": {"nested": True}}],
        },
    ]
    for body in bodies:
        for method, path in (
            ("POST", "/Users"),
            ("PUT", f"/Users/{user_id}"),
            ("PATCH", f"/Users/{user_id}"),
            ("POST", "/Groups"),
            ("POST", "/Bulk"),
            ("POST", "/.search"),
        ):
            response = scim.request(method, path, content=json.dumps(body).encode())
            assert response.status_code < 500, (method, path, body, response.text)
            if response.status_code >= 400:
                assert TRACKING.search(response.json()["detail"]), response.text


def test_a_lost_database_connection_costs_one_lookup_a_503_then_the_api_recovers(
    tmp_path: Path,
) -> None:
    """When PostgreSQL drops idsync's connections (a restart, a failover), the lookup in
    flight is answered 503 with the catalogue's code and a tracking ID, never a 500, and
    every connection held then is replaced at once: the next lookup succeeds."""
    for schema_url in _postgres_schema():
        name = f"idsync-lost-{uuid.uuid4().hex[:8]}"
        url = f"{schema_url}&application_name={name}"
        db = open_database(url)
        upgrade(db)
        server = start_server(url, tmp_path / "serve.log")
        try:
            org = make_org(db, server)
            headers = {"Authorization": f"Bearer {org.token}"}
            with httpx.Client(base_url=org.scim_url, headers=headers, timeout=30) as scim:
                created = scim.post("/Users", json=user("lost@example.com"))
                assert created.status_code == 201, created.text
                by_name = {"filter": 'userName eq "lost@example.com"'}
                assert scim.get("/Users", params=by_name).json()["totalResults"] == 1
                with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = %s",
                        (name,),
                    )
                assert_error(scim.get("/Users", params=by_name), 503, "IDS-503-001")
                again = scim.get("/Users", params=by_name)
                assert again.status_code == 200 and again.json()["totalResults"] == 1, again.text
                assert scim.get(f"/Users/{created.json()['id']}").status_code == 200
        finally:
            stop_server(server)
            db.dispose()
