"""One organisation's token never reads, changes or learns of another's data."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Org, Server, make_org
from tests.scimdata import BULK_REQUEST, SEARCH_REQUEST, group, patch, user


@pytest.fixture
def two_orgs(database: object, server: Server) -> tuple[Org, Org, dict[str, str]]:
    a, b = make_org(database, server), make_org(database, server)  # type: ignore[arg-type]
    with httpx.Client(
        base_url=b.scim_url, headers={"Authorization": f"Bearer {b.token}"}
    ) as client:
        secret_user = client.post(
            "/Users", json=user("secret@b.example", externalId="b-ext")
        ).json()
        secret_group = client.post(
            "/Groups", json=group("B only", members=[secret_user["id"]])
        ).json()
    return a, b, {"user": secret_user["id"], "group": secret_group["id"]}


def same_answer(first: dict, second: dict, *org_ids: str) -> bool:
    """Equal once the org ids and the tracking IDs (which differ per request) are masked."""

    def masked(body: dict) -> dict:
        detail = body["detail"].split(", tracking ID")[0]
        for org_id in org_ids:
            detail = detail.replace(org_id, "<org>")
        return {**body, "detail": detail}

    return masked(first) == masked(second)


def client_for(org: Org, url: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=url or org.scim_url, timeout=30, headers={"Authorization": f"Bearer {org.token}"}
    )


def test_resources_of_another_org_are_not_found_through_its_own_url(two_orgs) -> None:  # type: ignore[no-untyped-def]
    a, _, b_ids = two_orgs
    with client_for(a) as client:
        for kind, resource_id in (("Users", b_ids["user"]), ("Groups", b_ids["group"])):
            assert client.get(f"/{kind}/{resource_id}").status_code == 404
            assert client.put(f"/{kind}/{resource_id}", json=user()).status_code == 404
            assert (
                client.patch(
                    f"/{kind}/{resource_id}",
                    json=patch({"op": "replace", "path": "displayName", "value": "pwned"}),
                ).status_code
                == 404
            )
            assert client.delete(f"/{kind}/{resource_id}").status_code == 404
        assert (
            client.get("/Users", params={"filter": 'userName eq "secret@b.example"'}).json()[
                "totalResults"
            ]
            == 0
        )
        assert (
            client.get("/Users", params={"filter": 'externalId eq "b-ext"'}).json()["totalResults"]
            == 0
        )
        assert client.get("/Users").json()["totalResults"] == 0
        search = client.post("/.search", json={"schemas": [SEARCH_REQUEST]}).json()
        assert search["totalResults"] == 0


def test_another_orgs_url_answers_like_an_org_that_does_not_exist(two_orgs) -> None:  # type: ignore[no-untyped-def]
    a, b, b_ids = two_orgs
    with (
        client_for(a, b.scim_url) as wrong,
        client_for(a, b.scim_url.replace(b.id, "no-such-org")) as none,
    ):
        for path in ("/Users", f"/Users/{b_ids['user']}", "/Schemas", "/ServiceProviderConfig"):
            other, missing = wrong.get(path), none.get(path)
            assert other.status_code == missing.status_code == 404
            assert same_answer(other.json(), missing.json(), b.id, "no-such-org")
        created = wrong.post("/Users", json=user())
        assert created.status_code == 404
    with client_for(b) as client:
        assert client.get("/Users").json()["totalResults"] == 1


def test_members_and_managers_from_another_org_are_not_linked(two_orgs) -> None:  # type: ignore[no-untyped-def]
    a, b, b_ids = two_orgs
    with client_for(a) as client:
        response = client.post("/Groups", json=group(members=[b_ids["user"]]))
        assert response.status_code == 201
        assert response.json()["members"] == []
        assert b_ids["user"] in response.headers["warning"]
    with client_for(b) as client:
        assert client.get(f"/Users/{b_ids['user']}").json()["groups"][0]["value"] == b_ids["group"]


def test_bulk_cannot_reach_another_org(two_orgs) -> None:  # type: ignore[no-untyped-def]
    a, b, b_ids = two_orgs
    with client_for(a) as client:
        response = client.post(
            "/Bulk",
            json={
                "schemas": [BULK_REQUEST],
                "Operations": [
                    {"method": "DELETE", "path": f"/Users/{b_ids['user']}"},
                    {
                        "method": "PATCH",
                        "path": f"/Groups/{b_ids['group']}",
                        "data": patch({"op": "remove", "path": "members"}),
                    },
                ],
            },
        )
        assert [op["status"] for op in response.json()["Operations"]] == ["404", "404"]
    with client_for(b) as client:
        assert (
            client.get(f"/Groups/{b_ids['group']}").json()["members"][0]["value"] == b_ids["user"]
        )


def test_same_username_may_exist_in_two_orgs(two_orgs) -> None:  # type: ignore[no-untyped-def]
    a, _, _ = two_orgs
    with client_for(a) as client:
        assert (
            client.post("/Users", json=user("secret@b.example", externalId="b-ext")).status_code
            == 201
        )
