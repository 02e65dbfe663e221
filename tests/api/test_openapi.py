"""The OpenAPI document: served, checked in, and covering every endpoint the API answers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from idsync.api.openapi import openapi_document
from tests.conftest import Server

CHECKED_IN = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_served_document_is_the_checked_in_one(server: Server) -> None:
    served = httpx.get(f"{server.url}/openapi.json").json()
    assert served == json.loads(CHECKED_IN.read_text()), (
        "docs/openapi.json is stale: run  idsync openapi > docs/openapi.json"
    )
    assert served == openapi_document()


def test_every_scim_endpoint_is_documented(scim: httpx.Client) -> None:
    paths = openapi_document()["paths"]
    prefix = "/scim/{org_id}/v2"
    answered = {
        "/ServiceProviderConfig": ["get"],
        "/ResourceTypes": ["get"],
        "/ResourceTypes/{name}": ["get"],
        "/Schemas": ["get"],
        "/Schemas/{urn}": ["get"],
        "/Users": ["get", "post"],
        "/Users/{id}": ["get", "put", "patch", "delete"],
        "/Users/.search": ["post"],
        "/Groups": ["get", "post"],
        "/Groups/{id}": ["get", "put", "patch", "delete"],
        "/Groups/.search": ["post"],
        "/.search": ["post"],
        "/Bulk": ["post"],
        "/Me": ["get"],
    }
    for path, methods in answered.items():
        documented = paths[prefix + path]
        for method in methods:
            assert method in documented, f"{method.upper()} {path} is not documented"
            for status in documented[method]["responses"]:
                assert status.isdigit()
    assert "/healthz" in paths and "/openapi.json" in paths


def test_health_and_the_document_are_public_and_scim_needs_a_token() -> None:
    document = openapi_document()
    assert document["security"] == [{"bearer": []}]
    for path in ("/healthz", "/openapi.json"):
        assert document["paths"][path]["get"]["security"] == []
    users = document["paths"]["/scim/{org_id}/v2/Users"]["get"]
    assert "security" not in users


def test_the_document_describes_what_the_hub_refuses() -> None:
    document = openapi_document()
    parameters = {
        p["name"]: p["schema"]
        for p in document["paths"]["/scim/{org_id}/v2/Users"]["get"]["parameters"]
    }
    assert parameters["startIndex"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert parameters["count"]["minimum"] == 0
    schemas = document["components"]["schemas"]
    for name in ("User", "Group", "PatchOp", "SearchRequest", "BulkRequest"):
        listed = schemas[name]["properties"]["schemas"]
        assert listed["minItems"] == 1 and "const" in listed["contains"]


def test_every_management_endpoint_is_documented() -> None:
    """What api/management.py routes is what the document lists under /api/v1."""
    from starlette.routing import Route

    from idsync.api.management import routes
    from idsync.config import Settings

    served = set()
    for route in routes(None, Settings(), None):  # type: ignore[arg-type]
        assert isinstance(route, Route)
        served |= {(route.path, m.lower()) for m in route.methods or () if m != "HEAD"}
    documented = {
        (path, method)
        for path, item in openapi_document()["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
    }
    assert served == documented
