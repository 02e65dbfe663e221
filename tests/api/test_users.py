"""Users over HTTP: create, read, replace, patch, delete (RFC 7644 §3.3–§3.6)."""

from __future__ import annotations

import httpx

from tests.scimdata import ENTERPRISE, ERROR, USER, patch, unique, user


def create(scim: httpx.Client, body: dict) -> dict:
    response = scim.post("/Users", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_the_user_with_location_etag_and_meta(scim: httpx.Client) -> None:
    response = scim.post(
        "/Users",
        json=user(
            "bjensen@example.com",
            externalId="ext-1",
            name={"givenName": "Barbara", "familyName": "Jensen"},
        ),
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.headers["location"] == body["meta"]["location"]
    assert body["meta"]["location"].endswith(f"/Users/{body['id']}")
    assert response.headers["etag"] == body["meta"]["version"] == 'W/"1"'
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["created"] == body["meta"]["lastModified"]
    assert body["userName"] == "bjensen@example.com"
    assert body["externalId"] == "ext-1"
    assert body["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert body["active"] is True
    assert body["groups"] == []


def test_values_are_stored_as_sent(scim: httpx.Client) -> None:
    """Microsoft's SCIM tutorial: values are stored in the format they were sent."""
    body = create(
        scim,
        user(
            "Mixed.Case@Contoso.COM",
            emails=[{"value": "Mixed.Case@Contoso.COM", "type": "work", "primary": True}],
        ),
    )
    fetched = scim.get(f"/Users/{body['id']}").json()
    assert fetched["userName"] == "Mixed.Case@Contoso.COM"
    assert fetched["emails"][0]["value"] == "Mixed.Case@Contoso.COM"


def test_password_is_accepted_but_never_returned(scim: httpx.Client) -> None:
    body = create(scim, user(password="s3cret-Passw0rd"))
    assert "password" not in body
    listed = scim.get("/Users", params={"filter": f'id eq "{body["id"]}"'}).json()
    assert "password" not in listed["Resources"][0]


def test_username_is_unique_case_insensitively(scim: httpx.Client) -> None:
    first = create(scim, user("alice@example.com"))
    duplicate = scim.post("/Users", json=user("ALICE@example.com"))
    assert duplicate.status_code == 409
    error = duplicate.json()
    assert error["schemas"] == [ERROR]
    assert error["scimType"] == "uniqueness"
    assert error["status"] == "409"
    assert first["id"] in error["detail"]
    assert "IDS-409-001" in error["detail"]
    # The lookup a client makes next finds the user the 409 was about.
    found = scim.get("/Users", params={"filter": 'userName eq "Alice@Example.com"'}).json()
    assert [r["id"] for r in found["Resources"]] == [first["id"]]


def test_external_id_is_never_used_twice(scim: httpx.Client) -> None:
    create(scim, user(externalId="0a21f0f2-8d2a"))
    again = scim.post("/Users", json=user(externalId="0a21f0f2-8d2a"))
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    found = scim.get("/Users", params={"filter": 'externalId eq "0a21f0f2-8d2a"'}).json()
    assert found["totalResults"] == 1


def test_deleted_username_can_be_created_again(scim: httpx.Client) -> None:
    first = create(scim, user("again@example.com"))
    assert scim.delete(f"/Users/{first['id']}").status_code == 204
    assert scim.get(f"/Users/{first['id']}").status_code == 404
    second = create(scim, user("again@example.com"))
    assert second["id"] != first["id"]


def test_put_replaces_the_whole_user(scim: httpx.Client) -> None:
    body = create(scim, user(title="Engineer", nickName="Babs", externalId="e-9"))
    replaced = scim.put(
        f"/Users/{body['id']}",
        json={"schemas": [USER], "userName": body["userName"], "displayName": "Barbara"},
    )
    assert replaced.status_code == 200, replaced.text
    fetched = scim.get(f"/Users/{body['id']}").json()
    assert fetched["displayName"] == "Barbara"
    assert "title" not in fetched and "nickName" not in fetched and "externalId" not in fetched
    assert fetched["meta"]["version"] == 'W/"2"'
    assert fetched["meta"]["created"] == body["meta"]["created"]


def test_put_with_no_change_keeps_the_version(scim: httpx.Client) -> None:
    body = create(scim, user(title="Engineer"))
    payload = {k: v for k, v in body.items() if k not in ("meta", "groups")}
    again = scim.put(f"/Users/{body['id']}", json=payload)
    assert again.status_code == 200
    assert again.json()["meta"]["version"] == body["meta"]["version"]


def test_patch_replace_add_and_remove(scim: httpx.Client) -> None:
    body = create(scim, user(title="Engineer", emails=[{"value": "a@example.com", "type": "work"}]))
    response = scim.patch(
        f"/Users/{body['id']}",
        json=patch(
            {"op": "replace", "path": "title", "value": "Manager"},
            {"op": "add", "path": "emails", "value": [{"value": "b@example.com", "type": "home"}]},
            {"op": "remove", "path": 'emails[type eq "work"]'},
            {"op": "add", "path": "name.givenName", "value": "Bab"},
        ),
    )
    assert response.status_code == 200, response.text
    fetched = scim.get(f"/Users/{body['id']}").json()
    assert fetched["title"] == "Manager"
    assert fetched["emails"] == [{"value": "b@example.com", "type": "home"}]
    assert fetched["name"] == {"givenName": "Bab"}
    assert fetched["meta"]["version"] == 'W/"2"'
    assert response.json() == fetched


def test_patch_enterprise_attribute_by_full_urn(scim: httpx.Client) -> None:
    body = create(scim, user())
    response = scim.patch(
        f"/Users/{body['id']}",
        json=patch({"op": "add", "path": f"{ENTERPRISE}:department", "value": "Research"}),
    )
    assert response.status_code == 200, response.text
    fetched = scim.get(f"/Users/{body['id']}").json()
    assert fetched[ENTERPRISE]["department"] == "Research"
    assert ENTERPRISE in fetched["schemas"]


def test_patch_cannot_remove_a_required_attribute(scim: httpx.Client) -> None:
    body = create(scim, user())
    response = scim.patch(f"/Users/{body['id']}", json=patch({"op": "remove", "path": "userName"}))
    assert response.status_code == 400
    assert response.json()["scimType"] in ("mutability", "invalidValue")
    assert scim.get(f"/Users/{body['id']}").json()["userName"] == body["userName"]


def test_patch_replace_with_unmatched_filter_on_non_entra_shape_is_no_target(
    scim: httpx.Client,
) -> None:
    body = create(scim, user())
    response = scim.patch(
        f"/Users/{body['id']}",
        json=patch(
            {"op": "replace", "path": 'emails[value co "nowhere"]', "value": {"type": "work"}}
        ),
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "noTarget"


def test_patch_read_only_attribute_is_refused(scim: httpx.Client) -> None:
    body = create(scim, user())
    response = scim.patch(
        f"/Users/{body['id']}", json=patch({"op": "replace", "path": "id", "value": "mine"})
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "mutability"


def test_patch_rename_onto_a_taken_username_is_409(scim: httpx.Client) -> None:
    create(scim, user("taken@example.com"))
    other = create(scim, user())
    response = scim.patch(
        f"/Users/{other['id']}",
        json=patch({"op": "replace", "path": "userName", "value": "TAKEN@example.com"}),
    )
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert scim.get(f"/Users/{other['id']}").json()["userName"] == other["userName"]


def test_manager_resolves_to_a_user_and_gets_a_reference(scim: httpx.Client) -> None:
    boss = create(scim, user("boss@example.com"))
    body = create(
        scim,
        user(
            **{
                "schemas": [USER, ENTERPRISE],
                ENTERPRISE: {"manager": {"value": boss["id"]}, "department": "R&D"},
            }
        ),
    )
    manager = body[ENTERPRISE]["manager"]
    assert manager["value"] == boss["id"]
    assert manager["$ref"] == boss["meta"]["location"]


def test_manager_that_is_not_a_user_is_dropped_with_a_warning(scim: httpx.Client) -> None:
    response = scim.post(
        "/Users",
        json=user(
            **{
                "schemas": [USER, ENTERPRISE],
                ENTERPRISE: {"manager": {"value": "no-such-user"}},
            }
        ),
    )
    assert response.status_code == 201
    assert "manager" not in response.json().get(ENTERPRISE, {})
    assert "no-such-user" in response.headers["warning"]


def test_deleting_a_manager_clears_the_reference(scim: httpx.Client) -> None:
    boss = create(scim, user())
    body = create(
        scim,
        user(**{"schemas": [USER, ENTERPRISE], ENTERPRISE: {"manager": {"value": boss["id"]}}}),
    )
    assert scim.delete(f"/Users/{boss['id']}").status_code == 204
    fetched = scim.get(f"/Users/{body['id']}").json()
    assert ENTERPRISE not in fetched
    assert ENTERPRISE not in fetched["schemas"]
    assert fetched["meta"]["version"] == 'W/"2"'


def test_unknown_attribute_is_refused_with_its_name(scim: httpx.Client) -> None:
    response = scim.post("/Users", json=user(favouriteColour="blue"))
    assert response.status_code == 400
    assert "favouriteColour" in response.json()["detail"]


def test_wrong_type_is_refused_naming_the_attribute(scim: httpx.Client) -> None:
    response = scim.post("/Users", json=user(emails="bjensen@example.com"))
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "emails" in response.json()["detail"]


def test_missing_schemas_is_invalid_syntax(scim: httpx.Client) -> None:
    response = scim.post("/Users", json={"userName": unique()})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"


def test_unknown_id_is_404_with_scim_error(scim: httpx.Client) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        body = user() if method == "PUT" else patch({"op": "add", "path": "title", "value": "x"})
        response = scim.request(
            method, "/Users/does-not-exist", json=None if method in ("GET", "DELETE") else body
        )
        assert response.status_code == 404, method
        assert response.json()["schemas"] == [ERROR]
        assert response.json()["status"] == "404"
