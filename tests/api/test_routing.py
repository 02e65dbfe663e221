"""Routing: a path means what it says, every method gets an answer, and 405 names the others.

RFC 9110 §15.5.6: a 405 MUST carry ``Allow``; §9.1: GET and HEAD are the methods every
general-purpose server supports.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Org, Server
from tests.scimdata import assert_scim_error, user


def test_a_line_feed_at_the_end_of_a_path_does_not_reach_another_route(
    scim: httpx.Client, server: Server
) -> None:
    scim.post("/Users", json=user())
    assert_scim_error(scim.get("/Users/%0A"), 404, code="IDS-404-001")
    assert_scim_error(scim.get("/Users%0A"), 404, code="IDS-404-003")
    assert_scim_error(scim.delete("/Users/%0A"), 404, code="IDS-404-001")
    assert_scim_error(httpx.get(f"{server.url}/healthz%0A"), 404, code="IDS-404-003")
    assert_scim_error(httpx.get(f"{server.url}/openapi.json%0A"), 404, code="IDS-404-003")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/Users", "GET, HEAD, POST"),
        ("/Groups", "GET, HEAD, POST"),
        ("/Users/some-id", "DELETE, GET, HEAD, PATCH, PUT"),
        ("/Users/.search", "POST"),
        ("/.search", "POST"),
        ("/Bulk", "POST"),
        ("/Schemas", "GET, HEAD"),
        ("/ServiceProviderConfig", "GET, HEAD"),
        ("/ResourceTypes/User", "GET, HEAD"),
    ],
)
def test_a_method_the_endpoint_does_not_serve_gets_405_with_allow(
    scim: httpx.Client, path: str, allowed: str
) -> None:
    for method in ("TRACE", "OPTIONS", "PROPFIND"):
        response = scim.request(method, path)
        assert_scim_error(response, 405, code="IDS-405-001")
        assert response.headers["allow"] == allowed
    served = set(allowed.split(", "))
    for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - served:
        response = scim.request(method, path, json={})
        assert_scim_error(response, 405, code="IDS-405-001")
        assert response.headers["allow"] == allowed


def test_operations_endpoints_answer_405_with_allow(server: Server) -> None:
    for path in ("/healthz", "/openapi.json"):
        for method in ("POST", "DELETE", "TRACE"):
            response = httpx.request(method, f"{server.url}{path}")
            assert_scim_error(response, 405, code="IDS-405-001")
            assert response.headers["allow"] == "GET, HEAD"


def test_head_answers_as_get_without_a_body(scim: httpx.Client, org: Org) -> None:
    created = scim.post("/Users", json=user()).json()
    for path in ("/Users", f"/Users/{created['id']}", "/ServiceProviderConfig"):
        got = scim.get(path)
        head = scim.head(path)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers.get("etag") == got.headers.get("etag")
    assert httpx.head(f"{org.scim_url}/Users").status_code == 401
