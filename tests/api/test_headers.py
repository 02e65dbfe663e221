"""Every answer says nosniff and no-store: SCIM bodies carry personal data (RFC 9111 §5.2.2.5)."""

from __future__ import annotations

import httpx

from tests.conftest import Org, Server
from tests.scimdata import user


def test_every_answer_forbids_sniffing_and_storing(
    scim: httpx.Client, org: Org, server: Server
) -> None:
    created = scim.post("/Users", json=user())
    responses = [
        created,
        scim.get(f"/Users/{created.json()['id']}"),
        scim.get("/Users", params={"filter": 'userName eq "nobody@example.com"'}),
        scim.get("/Users/missing"),
        scim.request("TRACE", "/Users"),
        scim.get("/Users", headers={"If-None-Match": created.headers["etag"]}),
        httpx.get(f"{org.scim_url}/Users"),
        httpx.get(f"{server.url}/healthz"),
        httpx.get(f"{server.url}/openapi.json"),
        httpx.get(f"{server.url}/nowhere"),
        httpx.post(f"{server.url}/healthz"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
        assert response.headers["cache-control"] == "no-store", response.request.url
