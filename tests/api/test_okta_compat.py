"""Okta's SCIM 2.0 client, exactly as it behaves.

Every test sends a request in the shape Okta's provisioning client (or the Okta SCIM 2.0
SPEC Runscope suite) sends it, copied from docs/research/scim-clients-entra-okta.md, and then reads
the resource back to check the outcome Okta relies on. Source short names (OKTA-REF,
OKTA-SPEC, ...) and item ids (O-01, ...) refer to those notes; ``docs/clients.md`` is the
table of all of them. Okta's documented paths carry a ``/scim/v2`` prefix; here they are
relative to the organisation's SCIM root.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.scimdata import GROUP, LIST_RESPONSE, USER, assert_scim_error

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OKTA_AGENT = {"User-Agent": "Okta SCIM Client 1.0.0"}

# O-03: OKTA-REF "Create the user", verbatim (placeholder password, empty groups).
O03_CREATE_USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}

# O-13: OKTA-REF "Create Group" (Group Push), verbatim.
O13_CREATE_GROUP: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "Test SCIMv2",
    "members": [],
}


# --------------------------------------------------------------------------- helpers


def okta_user(user_name: str, given: str = "Test", family: str = "User") -> dict[str, Any]:
    """An O-03-shaped body for another user (the Runscope suite's randomised user)."""
    body = copy.deepcopy(O03_CREATE_USER)
    body.pop("externalId")
    body["userName"] = user_name
    body["name"] = {"givenName": given, "familyName": family}
    body["emails"] = [{"primary": True, "value": user_name, "type": "work"}]
    body["displayName"] = f"{given} {family}"
    return body


def create_user(scim: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = scim.post("/Users", json=body, headers=OKTA_AGENT)
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_group(scim: httpx.Client, display_name: str, members: list[str] | None = None) -> dict:
    body = copy.deepcopy(O13_CREATE_GROUP)
    body["displayName"] = display_name
    body["members"] = [{"value": m} for m in members or []]
    response = scim.post("/Groups", json=body, headers=OKTA_AGENT)
    assert response.status_code == 201, response.text
    return dict(response.json())


def get(scim: httpx.Client, path: str) -> dict[str, Any]:
    response = scim.get(path, headers=OKTA_AGENT)
    assert response.status_code == 200, response.text
    return dict(response.json())


def member_ids(scim: httpx.Client, group_id: str) -> list[str]:
    return [m["value"] for m in get(scim, f"/Groups/{group_id}").get("members", [])]


def assert_patched(response: httpx.Response) -> None:
    """OKTA-REF: PATCH may answer 200 with the resource or 204 with no body."""
    assert response.status_code in (200, 204), response.text


def assert_list_response(body: dict[str, Any]) -> None:
    """OKTA-REF: itemsPerPage, startIndex and totalResults are integers, not strings."""
    assert body["schemas"] == [LIST_RESPONSE]
    for key in ("totalResults", "startIndex", "itemsPerPage"):
        assert type(body[key]) is int, key
    assert isinstance(body["Resources"], list)


def assert_okta_required_user_fields(resource: dict[str, Any]) -> None:
    """OKTA-SPEC / OKTA-BUILD: id, name.givenName, name.familyName, userName, active, emails."""
    assert resource["id"]
    assert resource["name"]["givenName"]
    assert resource["name"]["familyName"]
    assert resource["userName"]
    assert isinstance(resource["active"], bool)
    assert resource["emails"][0]["value"]


# ------------------------------------------------------------ test connection, lookups


def test_initial_reads_with_constant_paging_return_list_responses(scim: httpx.Client) -> None:
    """OKTA-11 (O-01): GET /Users?startIndex=1&count=2 and /Groups?startIndex=1&count=100."""
    for path in ("/Users?startIndex=1&count=2", "/Groups?startIndex=1&count=100"):
        body = get(scim, path)
        assert_list_response(body)
        assert body["totalResults"] == 0
        assert body["Resources"] == []
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    body = get(scim, "/Users?startIndex=1&count=2")
    assert [r["id"] for r in body["Resources"]] == [created["id"]]


def test_lookup_before_create_with_percent_encoded_filter_returns_empty_list(
    scim: httpx.Client, org: Any
) -> None:
    """OKTA-REF O-02 verbatim query; OKTA-SPEC "Test invalid User by username" wants 200; §4 #1."""
    response = scim.get(
        f"{org.scim_url}/Users?filter=userName%20eq%20%22test.user%40okta.local%22"
        "&startIndex=1&count=100",
        headers=OKTA_AGENT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_list_response(body)
    assert body["totalResults"] == 0
    assert body["Resources"] == []
    assert body["startIndex"] == 1
    assert body["itemsPerPage"] == 0


def test_lookup_with_percent_encoded_filter_finds_the_user(scim: httpx.Client, org: Any) -> None:
    """OKTA-REF O-02 verbatim query, after O-03 created the user; notes §4 #2."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    response = scim.get(
        f"{org.scim_url}/Users?filter=userName%20eq%20%22test.user%40okta.local%22"
        "&startIndex=1&count=100",
        headers=OKTA_AGENT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_list_response(body)
    assert body["totalResults"] == 1
    assert [r["id"] for r in body["Resources"]] == [created["id"]]


def test_lookup_with_plus_encoded_filter_finds_the_user(scim: httpx.Client, org: Any) -> None:
    """Notes §4 #2: filter=userName+eq+%22x%40y%22 (form encoding, as MS-REF also sends)."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    response = scim.get(
        f"{org.scim_url}/Users?filter=userName+eq+%22test.user%40okta.local%22&startIndex=1&count=100"
    )
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["Resources"]] == [created["id"]]


def test_username_filter_is_case_insensitive(scim: httpx.Client) -> None:
    """OKTA-SPEC "Required Test: Username Case Sensitivity Check" (O-05); notes §4 #3."""
    created = create_user(scim, okta_user("runscope300hfluaklab151@example.com"))
    response = scim.get(
        "/Users",
        params={"filter": 'userName eq "RUNSCOPE300HFLUAKLAB151@example.com"'},
        headers=OKTA_AGENT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == created["id"]


def test_lookup_by_external_id_finds_the_user(scim: httpx.Client) -> None:
    """OKTA-LEGACY (O-02): Okta may filter on externalId eq "00u1abcdefGHIJKLMNOP"."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    body = get(scim, '/Users?filter=externalId eq "00ujl29u0le5T6Aj10h7"&startIndex=1&count=100')
    assert [r["id"] for r in body["Resources"]] == [created["id"]]
    none = get(scim, '/Users?filter=externalId eq "00u1abcdefGHIJKLMNOP"')
    assert none["totalResults"] == 0


# ------------------------------------------------------------------------------ users


def test_create_user_with_dummy_password_and_empty_groups(scim: httpx.Client) -> None:
    """OKTA-REF O-03 body verbatim (placeholder password, "groups": []); notes §4 #8."""
    response = scim.post("/Users", json=copy.deepcopy(O03_CREATE_USER), headers=OKTA_AGENT)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"]
    assert "password" not in created
    assert created["active"] is True
    fetched = get(scim, f"/Users/{created['id']}")
    assert "password" not in fetched
    assert USER in fetched["schemas"]
    assert fetched["userName"] == "test.user@okta.local"
    assert fetched["name"] == {"givenName": "Test", "familyName": "User"}
    assert fetched["emails"] == [{"primary": True, "value": "test.user@okta.local", "type": "work"}]
    assert fetched["displayName"] == "Test User"
    assert fetched["locale"] == "en-US"
    assert fetched["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert fetched["active"] is True
    assert fetched["meta"]["resourceType"] == "User"
    assert fetched.get("groups", []) == []
    assert_okta_required_user_fields(fetched)


def test_create_user_without_external_id(scim: httpx.Client) -> None:
    """OKTA-REF O-03 variant without externalId: still 201 with a full user."""
    body = copy.deepcopy(O03_CREATE_USER)
    del body["externalId"]
    response = scim.post("/Users", json=body, headers=OKTA_AGENT)
    assert response.status_code == 201, response.text
    fetched = get(scim, f"/Users/{response.json()['id']}")
    assert_okta_required_user_fields(fetched)
    assert "password" not in fetched


def test_recreating_the_same_user_is_409_uniqueness(scim: httpx.Client) -> None:
    """OKTA-REF O-04 and OKTA-SPEC "Expect failure when recreating user with same values"; §4 #9."""
    body = okta_user("runscope300hfluaklab151@example.com")
    first = create_user(scim, copy.deepcopy(body))
    again = scim.post("/Users", json=body, headers=OKTA_AGENT)
    assert_scim_error(again, 409, "uniqueness")
    listed = get(scim, '/Users?filter=userName eq "runscope300hfluaklab151@example.com"')
    assert [r["id"] for r in listed["Resources"]] == [first["id"]]


def test_conflict_detail_names_the_conflicting_value_for_the_admin(scim: httpx.Client) -> None:
    """OKTA-FAQ (O-20 "Error surfacing"): detail is shown to the Okta admin; O-04 conflict."""
    first = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    again = scim.post("/Users", json=okta_user("TEST.USER@okta.local"), headers=OKTA_AGENT)
    assert_scim_error(again, 409, "uniqueness")
    detail = again.json()["detail"]
    assert "userName" in detail
    assert first["id"] in detail
    assert "test.user@okta.local" in detail.lower()
    assert "None" not in detail


def test_scim_base_url_has_no_underscore_and_ids_are_usable_by_okta(
    scim: httpx.Client, org: Any
) -> None:
    """OKTA-BUILD (O-20): the base URL "can't contain the underscore"; ids never hold "bulkId"."""
    assert "_" not in org.scim_url
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    assert "bulkid" not in created["id"].lower()
    assert get(scim, f"/Users/{created['id']}")["id"] == created["id"]


def test_list_first_user_has_the_fields_okta_requires(scim: httpx.Client) -> None:
    """OKTA-SPEC first test: GET /Users?count=1&startIndex=1 (O-06); notes §4 #39."""
    create_user(scim, copy.deepcopy(O03_CREATE_USER))
    create_user(scim, okta_user("second@okta.local"))
    body = get(scim, "/Users?count=1&startIndex=1")
    assert_list_response(body)
    assert body["totalResults"] == 2
    assert body["itemsPerPage"] == 1
    assert body["startIndex"] == 1
    assert len(body["Resources"]) == 1
    assert_okta_required_user_fields(body["Resources"][0])


def test_import_paging_is_stable_and_past_the_end_is_empty(scim: httpx.Client) -> None:
    """OKTA-REF O-06: startIndex=1&count=100 then startIndex=101; stable ordering; §4 #39."""
    ids = [create_user(scim, okta_user(f"page{i}@okta.local"))["id"] for i in range(7)]
    full = get(scim, "/Users?startIndex=1&count=100")
    assert_list_response(full)
    assert full["totalResults"] == 7
    assert full["itemsPerPage"] == 7
    order = [r["id"] for r in full["Resources"]]
    assert sorted(order) == sorted(ids)
    past = get(scim, "/Users?startIndex=101&count=100")
    assert_list_response(past)
    assert past["totalResults"] == 7
    assert past["startIndex"] == 101
    assert past["Resources"] == []
    # "the same ordering of results … regardless of which values are provided for count and
    # startIndex"
    paged: list[str] = []
    for start in (1, 4, 7):
        page = get(scim, f"/Users?startIndex={start}&count=3")
        assert page["startIndex"] == start
        paged += [r["id"] for r in page["Resources"]]
    assert paged == order


def test_get_user_by_id_returns_the_fields_okta_requires(scim: httpx.Client) -> None:
    """OKTA-REF O-07 and OKTA-SPEC "Get User by ID": id equals the one requested."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    fetched = get(scim, f"/Users/{created['id']}")
    assert fetched["id"] == created["id"]
    assert_okta_required_user_fields(fetched)
    assert isinstance(fetched["emails"], list)
    assert [e for e in fetched["emails"] if e.get("primary") is True]


def test_unknown_or_malformed_user_id_is_404_with_error_body(scim: httpx.Client) -> None:
    """OKTA-SPEC "Test invalid User by ID" and "Check status 404" (O-07); notes §4 #40."""
    for user_id in ("010101001010101011001010101011", "00919288221112222"):
        assert_scim_error(scim.get(f"/Users/{user_id}", headers=OKTA_AGENT), 404)


def test_put_user_echoing_id_meta_and_groups_replaces_the_profile(scim: httpx.Client) -> None:
    """OKTA-REF O-08 "Update a specific User (PUT)" body verbatim (id substituted); §4 #38."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    response = scim.put(
        f"/Users/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": created["id"],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
            "emails": [
                {
                    "primary": True,
                    "value": "test.user@okta.local",
                    "type": "work",
                    "display": "test.user@okta.local",
                }
            ],
            "active": True,
            "groups": [],
            "meta": {"resourceType": "User"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"]["givenName"] == "Another"
    fetched = get(scim, f"/Users/{created['id']}")
    assert fetched["id"] == created["id"]
    assert fetched["name"] == {
        "givenName": "Another",
        "middleName": "Excited",
        "familyName": "User",
    }
    assert fetched["emails"] == [
        {
            "primary": True,
            "value": "test.user@okta.local",
            "type": "work",
            "display": "test.user@okta.local",
        }
    ]
    assert fetched["active"] is True
    # PUT replaces: what the body leaves out is cleared (RFC 7644 §3.5.1).
    for cleared in ("displayName", "locale", "externalId"):
        assert cleared not in fetched, cleared
    assert "password" not in fetched


def test_put_user_with_a_different_id_in_the_body_never_changes_the_id(scim: httpx.Client) -> None:
    """OKTA-REF O-08 note / notes §4 #38: a mismatched body id is rejected or ignored."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    other = create_user(scim, okta_user("other@okta.local"))
    body = copy.deepcopy(O03_CREATE_USER)
    body["id"] = other["id"]
    body["displayName"] = "Changed"
    response = scim.put(f"/Users/{created['id']}", json=body, headers=OKTA_AGENT)
    if response.status_code == 200:
        assert response.json()["id"] == created["id"]
        assert get(scim, f"/Users/{created['id']}")["displayName"] == "Changed"
    else:
        assert_scim_error(response, 400)
        assert get(scim, f"/Users/{created['id']}")["displayName"] == "Test User"
    untouched = get(scim, f"/Users/{other['id']}")
    assert untouched["userName"] == "other@okta.local"
    assert untouched["displayName"] == "Test User"


def test_deactivate_with_path_less_replace(scim: httpx.Client) -> None:
    """OKTA-REF O-09 "Deactivate user" body verbatim; notes §4 #13."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    response = scim.patch(
        f"/Users/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    )
    assert_patched(response)
    if response.status_code == 200:
        assert response.json()["active"] is False
    fetched = get(scim, f"/Users/{created['id']}")
    assert fetched["active"] is False
    assert fetched["userName"] == "test.user@okta.local"
    # Still visible to the lookup Okta makes (notes §0 rule 9, §4 #14).
    found = get(scim, '/Users?filter=userName eq "test.user@okta.local"')
    assert [r["id"] for r in found["Resources"]] == [created["id"]]


def test_reactivate_with_path_less_replace(scim: httpx.Client) -> None:
    """OKTA-REF O-10 (body INFERRED from O-09): {"op":"replace","value":{"active":true}}."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    for active in (False, True):
        response = scim.patch(
            f"/Users/{created['id']}",
            headers=OKTA_AGENT,
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": active}}],
            },
        )
        assert_patched(response)
        assert get(scim, f"/Users/{created['id']}")["active"] is active


def test_password_sync_with_path_less_replace_is_accepted_and_never_returned(
    scim: httpx.Client,
) -> None:
    """OKTA-REF O-10 "Syncing the user password" (body INFERRED): password is write-only."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    response = scim.patch(
        f"/Users/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"password": "t1meMachine"}}],
        },
    )
    assert_patched(response)
    if response.status_code == 200:
        assert "password" not in response.json()
    fetched = get(scim, f"/Users/{created['id']}")
    assert "password" not in fetched
    assert fetched["active"] is True
    assert fetched["name"] == {"givenName": "Test", "familyName": "User"}


def test_deactivate_via_put_with_active_false(scim: httpx.Client) -> None:
    """OKTA-REF O-11: AIW integrations deactivate with a full-user PUT carrying "active": false."""
    created = create_user(scim, copy.deepcopy(O03_CREATE_USER))
    body = {k: v for k, v in get(scim, f"/Users/{created['id']}").items() if k != "meta"}
    body["active"] = False
    body["meta"] = {"resourceType": "User"}
    response = scim.put(f"/Users/{created['id']}", json=body, headers=OKTA_AGENT)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    fetched = get(scim, f"/Users/{created['id']}")
    assert fetched["active"] is False
    assert fetched["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert fetched["name"] == {"givenName": "Test", "familyName": "User"}


def test_json_content_type_and_charset_are_accepted(scim: httpx.Client) -> None:
    """OKTA-LEGACY / OKTA-SPEC Runscope POSTs use application/json; notes §4 #46."""
    plain = scim.post(
        "/Users",
        json=okta_user("json@okta.local"),
        headers={"Content-Type": "application/json", **OKTA_AGENT},
    )
    assert plain.status_code == 201, plain.text
    assert plain.headers["content-type"].startswith("application/scim+json")
    charset = scim.post(
        "/Users",
        json=okta_user("charset@okta.local"),
        headers={"Content-Type": "application/scim+json; charset=utf-8", **OKTA_AGENT},
    )
    assert charset.status_code == 201, charset.text
    for created in (plain.json(), charset.json()):
        assert get(scim, f"/Users/{created['id']}")["userName"] == created["userName"]


def test_bad_or_missing_token_is_401_with_a_scim_error_body(scim: httpx.Client, org: Any) -> None:
    """OKTA-SPEC "Required Test: Check status 401": Authorization: non-token (O-20); §4 #41."""
    url = f"{org.scim_url}/Users"
    query = {"filter": 'userName eq "test.user@okta.local"'}
    for headers in ({"Authorization": "non-token"}, {}):
        response = httpx.get(url, params=query, headers={**headers, **OKTA_AGENT}, timeout=30)
        assert_scim_error(response, 401)


# ----------------------------------------------------------------------------- groups


def test_create_group_with_empty_members(scim: httpx.Client) -> None:
    """OKTA-REF O-13 "Create Group" body verbatim; notes §4 #28."""
    response = scim.post("/Groups", json=copy.deepcopy(O13_CREATE_GROUP), headers=OKTA_AGENT)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"]
    assert created["displayName"] == "Test SCIMv2"
    assert created["members"] == []
    assert created["meta"]["resourceType"] == "Group"
    fetched = get(scim, f"/Groups/{created['id']}")
    assert fetched["schemas"] == [GROUP]
    assert fetched["displayName"] == "Test SCIMv2"
    assert fetched.get("members", []) == []


def test_create_group_with_taken_display_name_is_409_uniqueness(scim: httpx.Client) -> None:
    """OKTA-REF O-13 + MS-TUT displayName uniqueness (idsync: unique per organisation); §4 #28."""
    create_group(scim, "Test SCIMv2")
    again = scim.post("/Groups", json=copy.deepcopy(O13_CREATE_GROUP), headers=OKTA_AGENT)
    assert_scim_error(again, 409, "uniqueness")
    assert get(scim, '/Groups?filter=displayName eq "Test SCIMv2"')["totalResults"] == 1


def test_group_lookup_by_display_name_percent_encoded(scim: httpx.Client, org: Any) -> None:
    """okta-developer-docs PR #3506 (O-13): filter=displayName eq <groupName> (query INFERRED)."""
    query = "filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100"
    missing = scim.get(f"{org.scim_url}/Groups?{query}", headers=OKTA_AGENT)
    assert missing.status_code == 200, missing.text
    assert_list_response(missing.json())
    assert missing.json()["totalResults"] == 0
    created = create_group(scim, "Test SCIMv2")
    found = scim.get(f"{org.scim_url}/Groups?{query}", headers=OKTA_AGENT)
    assert found.status_code == 200, found.text
    assert [g["id"] for g in found.json()["Resources"]] == [created["id"]]


def test_list_and_get_groups_include_members(scim: httpx.Client) -> None:
    """OKTA-REF O-14: GET /Groups?startIndex=1&count=100 and GET /Groups/{id} with members."""
    alice = create_user(scim, copy.deepcopy(O03_CREATE_USER))["id"]
    created = create_group(scim, "Test SCIMv2", [alice])
    listed = get(scim, "/Groups?startIndex=1&count=100")
    assert_list_response(listed)
    assert [g["id"] for g in listed["Resources"]] == [created["id"]]
    assert [m["value"] for m in listed["Resources"][0]["members"]] == [alice]
    fetched = get(scim, f"/Groups/{created['id']}")
    assert [m["value"] for m in fetched["members"]] == [alice]


def test_groups_endpoint_without_parameters(scim: httpx.Client) -> None:
    """OKTA-SPEC "Optional Test: Verify Groups endpoint": GET /Groups answers 200.

    (Okta's suite also wants it within 600 ms; response times are measured in
    benchmarks/, not asserted in tests.)
    """
    create_group(scim, "Test SCIMv2")
    response = scim.get("/Groups", headers=OKTA_AGENT)
    assert response.status_code == 200, response.text
    assert_list_response(response.json())
    assert response.json()["totalResults"] == 1


def test_rename_group_with_path_less_replace_carrying_its_id(scim: httpx.Client) -> None:
    """OKTA-REF O-15 "Update Group Name" body verbatim (id substituted); notes §4 #35."""
    alice = create_user(scim, copy.deepcopy(O03_CREATE_USER))["id"]
    created = create_group(scim, "Old name", [alice])
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "value": {"id": created["id"], "displayName": "Test SCIMv2"}}
            ],
        },
    )
    assert_patched(response)
    if response.status_code == 200:
        body = response.json()
        assert body["displayName"] == "Test SCIMv2"
        assert body.get("members", []) is not None
    fetched = get(scim, f"/Groups/{created['id']}")
    assert fetched["id"] == created["id"]
    assert fetched["displayName"] == "Test SCIMv2"
    assert [m["value"] for m in fetched["members"]] == [alice]


def test_rename_group_to_its_unchanged_name_with_id_is_harmless(scim: httpx.Client) -> None:
    """OKTA-REF O-15: sent with every membership update, usually with the same name."""
    created = create_group(scim, "Test SCIMv2")
    for _ in range(2):
        response = scim.patch(
            f"/Groups/{created['id']}",
            headers=OKTA_AGENT,
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "value": {"id": created["id"], "displayName": "Test SCIMv2"}}
                ],
            },
        )
        assert_patched(response)
    fetched = get(scim, f"/Groups/{created['id']}")
    assert fetched["displayName"] == "Test SCIMv2"
    assert fetched["meta"]["version"] == created["meta"]["version"]


def test_remove_by_filter_then_add_with_display_in_one_patch(scim: httpx.Client) -> None:
    """OKTA-REF O-16 "Update Group Membership" body verbatim (ids substituted); notes §4 #34."""
    leaving = create_user(scim, okta_user("leaving@okta.local"))["id"]
    staying = create_user(scim, okta_user("staying@okta.local"))["id"]
    joining = create_user(scim, copy.deepcopy(O03_CREATE_USER))["id"]
    created = create_group(scim, "Test SCIMv2", [leaving, staying])
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "remove", "path": f'members[value eq "{leaving}"]'},
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": joining, "display": "test.user@okta.local"}],
                },
            ],
        },
    )
    assert_patched(response)
    assert sorted(member_ids(scim, created["id"])) == sorted([staying, joining])


def test_remove_by_filter_of_a_non_member_is_a_no_op(scim: httpx.Client) -> None:
    """OKTA-REF O-16 handling: "Removing a non-member is a no-op"."""
    member = create_user(scim, copy.deepcopy(O03_CREATE_USER))["id"]
    outsider = create_user(scim, okta_user("outsider@okta.local"))["id"]
    created = create_group(scim, "Test SCIMv2", [member])
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": f'members[value eq "{outsider}"]'}],
        },
    )
    assert_patched(response)
    assert member_ids(scim, created["id"]) == [member]


def test_replace_members_with_two_values_sets_exactly_those(scim: httpx.Client) -> None:
    """OKTA-REF O-17 "replace all the group members" body verbatim (ids substituted); §4 #36."""
    old = create_user(scim, okta_user("old@okta.local"))["id"]
    first = create_user(scim, copy.deepcopy(O03_CREATE_USER))["id"]
    second = create_user(scim, okta_user("second@okta.local"))["id"]
    created = create_group(scim, "Test SCIMv2", [old, first])
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "replace",
                    "path": "members",
                    "value": [
                        {"value": first, "display": "test.user@okta.local"},
                        {"value": second, "display": "test.user@okta.local"},
                    ],
                }
            ],
        },
    )
    assert_patched(response)
    assert sorted(member_ids(scim, created["id"])) == sorted([first, second])


def test_put_group_without_id_replaces_name_and_members(scim: httpx.Client) -> None:
    """OKTA-REF O-18 AIW "Update Group" PUT body verbatim (member id substituted); §4 #37."""
    old = create_user(scim, okta_user("old@okta.local"))["id"]
    new = create_user(scim, copy.deepcopy(O03_CREATE_USER))["id"]
    created = create_group(scim, "Before", [old])
    response = scim.put(
        f"/Groups/{created['id']}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Test SCIMv2",
            "members": [{"value": new, "display": "test.user@okta.local"}],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"]
    fetched = get(scim, f"/Groups/{created['id']}")
    assert fetched["displayName"] == "Test SCIMv2"
    assert [m["value"] for m in fetched["members"]] == [new]


def test_delete_group_is_204_and_the_group_is_gone(scim: httpx.Client) -> None:
    """OKTA-REF O-19 "Delete Group": HTTP/1.1 204 No Content; notes §4 #43."""
    member = create_user(scim, copy.deepcopy(O03_CREATE_USER))["id"]
    created = create_group(scim, "Test SCIMv2", [member])
    response = scim.delete(f"/Groups/{created['id']}", headers=OKTA_AGENT)
    assert response.status_code == 204
    assert response.content == b""
    assert_scim_error(scim.get(f"/Groups/{created['id']}"), 404)
    assert get(scim, '/Groups?filter=displayName eq "Test SCIMv2"')["totalResults"] == 0
    assert get(scim, f"/Users/{member}")["active"] is True


def test_scim11_group_description_extension_is_refused(scim: httpx.Client) -> None:
    """OKTA-11 (O-13, SCIM 1.1 only): urn:okta:custom:group:1.0 is undeclared, so 400 here."""
    response = scim.post(
        "/Groups",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "urn:okta:custom:group:1.0"],
            "displayName": "West",
            "members": [],
            "urn:okta:custom:group:1.0": {"description": "All Users West of The Rockies"},
        },
    )
    assert_scim_error(response, 400, "invalidValue")
    assert "urn:okta:custom:group:1.0" in response.json()["detail"]
    assert get(scim, '/Groups?filter=displayName eq "West"')["totalResults"] == 0
