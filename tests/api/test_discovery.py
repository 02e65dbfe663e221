"""Discovery (RFC 7644 §4) and an organisation's own extension schemas."""

from __future__ import annotations

import httpx

from idsync.manage import orgs
from idsync.store.database import Database
from tests.conftest import Org
from tests.scimdata import USER, patch, user

BADGE = "urn:example:params:scim:schemas:extension:badge:2.0:User"
BADGE_SCHEMA = {
    "id": BADGE,
    "name": "Badge",
    "description": "Building access",
    "attributes": [
        {"name": "badgeNumber", "type": "string", "caseExact": True, "uniqueness": "none"},
        {"name": "floors", "type": "integer", "multiValued": True},
        {"name": "escort", "type": "boolean"},
        {"name": "pin", "type": "string", "mutability": "writeOnly", "returned": "never"},
    ],
}


def test_service_provider_config_tells_what_is_supported(scim: httpx.Client) -> None:
    config = scim.get("/ServiceProviderConfig").json()
    assert config["patch"]["supported"] and config["filter"]["supported"]
    assert config["filter"]["maxResults"] == 1000
    assert config["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 4194304}
    assert config["etag"]["supported"] and config["sort"]["supported"]
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_resource_types_and_schemas_are_listed(scim: httpx.Client, org: Org) -> None:
    types = scim.get("/ResourceTypes").json()
    assert {t["name"] for t in types["Resources"]} == {"User", "Group"}
    user_type = scim.get("/ResourceTypes/User").json()
    assert user_type["schemaExtensions"] == [
        {"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": False}
    ]
    assert user_type["meta"]["location"] == f"{org.scim_url}/ResourceTypes/User"
    schemas = scim.get("/Schemas").json()
    assert schemas["totalResults"] == 3
    one = scim.get(f"/Schemas/{USER}").json()
    assert one["id"] == USER
    assert next(a for a in one["attributes"] if a["name"] == "userName")["uniqueness"] == "server"
    assert scim.get("/Schemas/urn:nope").status_code == 404
    assert scim.get("/ResourceTypes/Widget").status_code == 404


def test_custom_extension_is_served_validated_filtered_and_patched(
    scim: httpx.Client, org: Org, database: Database
) -> None:
    orgs.add_schema(database, org.id, "User", BADGE_SCHEMA, required=False, actor="tests")
    assert scim.get(f"/Schemas/{BADGE}").json()["name"] == "Badge"
    extensions = scim.get("/ResourceTypes/User").json()["schemaExtensions"]
    assert {"schema": BADGE, "required": False} in extensions

    created = scim.post(
        "/Users",
        json=user(
            **{
                "schemas": [USER, BADGE],
                BADGE: {"badgeNumber": "B-7", "floors": [3, 4], "pin": "1234"},
            }
        ),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body[BADGE] == {"badgeNumber": "B-7", "floors": [3, 4]}

    bad = scim.post("/Users", json=user(**{BADGE: {"floors": ["third"]}}))
    assert bad.status_code == 400 and "floors" in bad.json()["detail"]

    found = scim.get("/Users", params={"filter": f"{BADGE}:floors eq 4"}).json()
    assert [r["id"] for r in found["Resources"]] == [body["id"]]
    assert (
        scim.get("/Users", params={"filter": f'{BADGE}:badgeNumber eq "b-7"'}).json()[
            "totalResults"
        ]
        == 0
    )

    appended = scim.patch(
        f"/Users/{body['id']}", json=patch({"op": "add", "path": f"{BADGE}:floors", "value": [5]})
    )
    assert appended.json()[BADGE]["floors"] == [3, 4, 5]  # RFC 7644 §3.5.2.1: add appends
    patched = scim.patch(
        f"/Users/{body['id']}", json=patch({"op": "add", "path": f"{BADGE}:escort", "value": True})
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()[BADGE]["escort"] is True
    assert (
        scim.get("/Users", params={"filter": f"{BADGE}:escort eq true"}).json()["totalResults"] == 1
    )


def test_undeclared_extension_data_is_refused_with_the_fix(scim: httpx.Client) -> None:
    response = scim.post("/Users", json=user(**{"urn:example:undeclared:2.0:User": {"x": 1}}))
    assert response.status_code == 400
    assert "idsync schema add" in response.json()["detail"]


def test_a_schema_that_cannot_be_served_is_refused(org: Org, database: Database) -> None:
    import pytest

    from idsync.errors.catalogue import IdsyncError

    with pytest.raises(IdsyncError) as bad_type:
        orgs.add_schema(
            database,
            org.id,
            "User",
            {**BADGE_SCHEMA, "id": "urn:x:y", "attributes": [{"name": "n", "type": "float"}]},
            required=False,
            actor="tests",
        )
    assert bad_type.value.error.code == "IDS-400-021"
    with pytest.raises(IdsyncError) as builtin:
        orgs.add_schema(
            database, org.id, "User", {**BADGE_SCHEMA, "id": USER}, required=False, actor="tests"
        )
    assert "built-in" in builtin.value.detail
