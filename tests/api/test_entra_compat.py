"""Microsoft Entra ID's SCIM client, exactly as it behaves.

Every test sends a request in the shape Entra's provisioning service (or Microsoft's
own validator) sends it, copied from docs/research/scim-clients-entra-okta.md, and then reads the
resource back to check the outcome Entra relies on. Source short names (MS-COMPAT,
MS-TUT, MS-REF, ...) and item ids (Q-E1, E-05, ...) refer to those notes;
``docs/clients.md`` is the table of all of them.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from idsync.manage import orgs
from tests.scimdata import (
    ENTERPRISE,
    GROUP,
    LIST_RESPONSE,
    PATCH_OP,
    USER,
    assert_scim_error,
    unique,
    user,
)

ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"

# E-01: MS-TUT "Create User", verbatim.
E01_CREATE_USER: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": True,
    "emails": [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
        }
    ],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}

# E-09: MS-TUT "Create Group", verbatim (note the ADSCIM schema URI and no members).
E09_CREATE_GROUP: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    ],
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "displayName",
    "meta": {"resourceType": "Group"},
}


# --------------------------------------------------------------------------- helpers


def create_user(scim: httpx.Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = scim.post("/Users", json=body if body is not None else user())
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_group(
    scim: httpx.Client, display_name: str | None = None, members: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP], "displayName": display_name or unique("group-")}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    response = scim.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def get_user(scim: httpx.Client, user_id: str) -> dict[str, Any]:
    response = scim.get(f"/Users/{user_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def get_group(scim: httpx.Client, group_id: str) -> dict[str, Any]:
    response = scim.get(f"/Groups/{group_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def member_ids(scim: httpx.Client, group_id: str) -> list[str]:
    """The group's member ids, in the order returned (duplicates kept, so they show)."""
    return [m["value"] for m in get_group(scim, group_id).get("members", [])]


def assert_patched(response: httpx.Response) -> None:
    """Entra accepts 200 with the resource or 204 without a body (MS-TUT)."""
    assert response.status_code in (200, 204), response.text


def filter_users(scim: httpx.Client, expression: str) -> dict[str, Any]:
    response = scim.get("/Users", params={"filter": expression})
    assert response.status_code == 200, response.text
    return dict(response.json())


def enterprise(resource: dict[str, Any]) -> dict[str, Any]:
    return dict(resource.get(ENTERPRISE, {}))


def user_patch(scim: httpx.Client, user_id: str, body: dict[str, Any]) -> httpx.Response:
    return scim.patch(f"/Users/{user_id}", json=body)


# --------------------------------------------------------------- Test Connection, lookups


def test_lookup_of_random_guid_returns_200_empty_list_not_404(scim: httpx.Client) -> None:
    """MS-TUT "Test Connection" and E-04; MS-QUAR quarantines on a 404 here; notes §4 #1."""
    response = scim.get(
        "/Users", params={"filter": 'userName eq "3e5b7f1c-2a1d-4c55-9d57-0b8c1f1b2f11"'}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert body["totalResults"] == 0
    assert body["Resources"] == []
    assert type(body["startIndex"]) is int
    assert body["startIndex"] == 1
    assert type(body["itemsPerPage"]) is int
    assert body["itemsPerPage"] == 0


def test_lookup_by_username_returns_the_created_user(scim: httpx.Client) -> None:
    """MS-TUT E-03 "Get User by query"; the match must be unique (DuplicateTargetEntries)."""
    created = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    found = filter_users(scim, 'userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"')
    assert found["totalResults"] == 1
    assert type(found["itemsPerPage"]) is int
    assert found["itemsPerPage"] == 1
    assert found["Resources"][0]["id"] == created["id"]
    assert found["Resources"][0]["userName"] == "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"


def test_plus_encoded_filter_with_capitalised_attribute_and_trailing_slash(
    scim: httpx.Client, org: Any
) -> None:
    """MS-REF PostmanCollection.json (E-23): GET /Users/?filter=DisplayName+eq+%22BobIsAmazing%22"""
    bob = create_user(scim, user(displayName="BobIsAmazing"))
    create_user(scim, user(displayName="BobIsNotAmazing"))
    response = scim.get(f"{org.scim_url}/Users/?filter=DisplayName+eq+%22BobIsAmazing%22")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["Resources"]] == [bob["id"]]
    assert body["totalResults"] == 1


def test_group_filter_attribute_name_is_case_insensitive(scim: httpx.Client, org: Any) -> None:
    """MS-REF PostmanCollection.json uses DisplayName in filters; notes §4 #4."""
    wanted = create_group(scim, "BobsGroup")
    create_group(scim, "OtherGroup")
    response = scim.get(f"{org.scim_url}/Groups?filter=DisplayName+eq+%22BobsGroup%22")
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["Resources"]] == [wanted["id"]]


def test_lookup_by_external_id_and_by_work_email_value(scim: httpx.Client) -> None:
    """MS-TUT: attributes used for matching must be filterable (E-03, notes §4 #5)."""
    created = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    by_external = filter_users(scim, 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')
    assert [r["id"] for r in by_external["Resources"]] == [created["id"]]
    by_email = filter_users(
        scim,
        'emails[type eq "work"].value eq '
        '"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"',
    )
    assert [r["id"] for r in by_email["Resources"]] == [created["id"]]
    assert (
        filter_users(scim, 'emails[type eq "work"].value eq "nobody@testuser.com"')["totalResults"]
        == 0
    )


def test_manager_check_query_with_and_and_attributes_id(scim: httpx.Client) -> None:
    """Older MS-TUT "Example 4" (E-19): id eq … and manager eq …&attributes=id; notes §4 #6."""
    boss = create_user(scim)
    other_boss = create_user(scim)
    employee = create_user(scim, user(**{ENTERPRISE: {"manager": {"value": boss["id"]}}}))
    response = scim.get(
        "/Users",
        params={
            "filter": f'id eq "{employee["id"]}" and manager eq "{boss["id"]}"',
            "attributes": "id",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == employee["id"]
    assert set(body["Resources"][0]) <= {"id", "schemas"}
    miss = scim.get(
        "/Users",
        params={
            "filter": f'id eq "{employee["id"]}" and manager eq "{other_boss["id"]}"',
            "attributes": "id",
        },
    )
    assert miss.status_code == 200, miss.text
    assert miss.json()["totalResults"] == 0
    assert miss.json()["Resources"] == []


def test_username_conflict_is_409_and_the_lookup_finds_the_conflicting_user(
    scim: httpx.Client,
) -> None:
    """MS-LOGS-2019 EntryConflict + Metatavu/keycloak-scim-server #74 loop (notes 1.D, §4 #9)."""
    first = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    again = copy.deepcopy(E01_CREATE_USER)
    again["userName"] = again["userName"].upper()
    again["externalId"] = "another-external-id"
    response = scim.post("/Users", json=again)
    assert_scim_error(response, 409, "uniqueness")
    # Entra's next cycle starts with the matching query; it must see the user the 409 was about.
    found = filter_users(scim, f'userName eq "{again["userName"]}"')
    assert [r["id"] for r in found["Resources"]] == [first["id"]]


# ------------------------------------------------------------------------------ users


def test_create_user_with_entra_body_ignores_meta_and_accepts_empty_roles(
    scim: httpx.Client,
) -> None:
    """MS-TUT E-01 "Create User", body verbatim; notes §4 #7."""
    response = scim.post("/Users", json=copy.deepcopy(E01_CREATE_USER))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"]
    fetched = get_user(scim, created["id"])
    assert fetched["id"] == created["id"]
    assert fetched["userName"] == "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    assert fetched["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    assert fetched["active"] is True
    assert fetched["emails"] == [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
        }
    ]
    assert fetched["name"] == {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    }
    assert fetched["meta"]["resourceType"] == "User"
    assert fetched["meta"]["created"]
    assert fetched["meta"]["lastModified"]
    assert fetched.get("roles", []) == []


def test_create_user_with_string_true_active(scim: httpx.Client) -> None:
    """MS-REF user_emp1.json, SCIMReferenceCode #21 (E-24): "active": "True"; notes §4 #10."""
    body = copy.deepcopy(E01_CREATE_USER)
    body["active"] = "True"
    response = scim.post("/Users", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["active"] is True
    assert get_user(scim, response.json()["id"])["active"] is True


def test_create_user_with_two_work_emails_and_null_address_sub_attributes(
    scim: httpx.Client,
) -> None:
    """MS-REF user_emp1.json (E-24, MS-TUT rules): two "work" emails, null address parts."""
    body = copy.deepcopy(E01_CREATE_USER)
    body["active"] = "True"
    body["emails"] = [
        {"primary": True, "type": "work", "value": "first@testuser.com"},
        {"primary": False, "type": "work", "value": "second@testuser.com"},
    ]
    body["addresses"] = [
        {
            "type": "work",
            "streetAddress": None,
            "locality": "Redmond",
            "region": None,
            "postalCode": "98052",
            "country": None,
            "formatted": None,
            "primary": "True",
        }
    ]
    response = scim.post("/Users", json=body)
    assert response.status_code == 201, response.text
    fetched = get_user(scim, response.json()["id"])
    assert fetched["active"] is True
    assert [e["value"] for e in fetched["emails"]] == ["first@testuser.com", "second@testuser.com"]
    assert fetched["addresses"] == [
        {"type": "work", "locality": "Redmond", "postalCode": "98052", "primary": True}
    ]
    for address in ("first@testuser.com", "second@testuser.com"):
        found = filter_users(scim, f'emails[type eq "work"].value eq "{address}"')
        assert [r["id"] for r in found["Resources"]] == [fetched["id"]]


def test_attribute_names_in_bodies_are_case_insensitive(scim: httpx.Client) -> None:
    """MS-REF PostmanCollection.json (E-23): "Primary", "Department", "Manager": {"Value": …}."""
    boss = create_user(scim)
    response = scim.post(
        "/Users",
        json={
            "schemas": [USER, ENTERPRISE],
            "UserName": "BobIsAmazing@contoso.com",
            "Active": True,
            "emails": [{"Primary": True, "type": "work", "value": "bob@contoso.com"}],
            ENTERPRISE: {"Department": "bob", "Manager": {"Value": boss["id"]}},
        },
    )
    assert response.status_code == 201, response.text
    fetched = get_user(scim, response.json()["id"])
    assert fetched["userName"] == "BobIsAmazing@contoso.com"
    assert fetched["emails"] == [{"primary": True, "type": "work", "value": "bob@contoso.com"}]
    assert enterprise(fetched)["department"] == "bob"
    assert enterprise(fetched)["manager"]["value"] == boss["id"]
    assert "Department" not in enterprise(fetched)


def test_create_user_with_legacy_nulls_and_malformed_enterprise_urn(scim: httpx.Client) -> None:
    """MS-TUT "Example 2" (E-18): null attributes, "…enterprise:2.0User", top-level nulls."""
    body = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
        ],
        "externalId": "jyoung",
        "userName": "jyoung@testuser.com",
        "active": True,
        "addresses": None,
        "displayName": "Joy Young",
        "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": True}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": "Young", "givenName": "Joy"},
        "phoneNumbers": None,
        "preferredLanguage": None,
        "title": None,
        "department": None,
        "manager": None,
    }
    response = scim.post("/Users", json=body)
    assert response.status_code == 201, response.text
    fetched = get_user(scim, response.json()["id"])
    assert fetched["userName"] == "jyoung@testuser.com"
    assert fetched["displayName"] == "Joy Young"
    assert fetched["emails"] == [{"type": "work", "value": "jyoung@Contoso.com", "primary": True}]
    assert fetched["name"] == {"familyName": "Young", "givenName": "Joy"}
    for absent in (
        "addresses",
        "phoneNumbers",
        "preferredLanguage",
        "title",
        "department",
        "manager",
    ):
        assert absent not in fetched
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0User" not in fetched["schemas"]


def test_enterprise_extension_data_is_accepted_without_its_urn_in_schemas(
    scim: httpx.Client,
) -> None:
    """MS-ATTR (E-21): the Entra client does not list extension URNs in schemas[]; notes §3 #10."""
    response = scim.post(
        "/Users",
        json={
            "schemas": [USER],
            "userName": "ext@contoso.com",
            ENTERPRISE: {"department": "Research", "employeeNumber": "701984"},
        },
    )
    assert response.status_code == 201, response.text
    fetched = get_user(scim, response.json()["id"])
    assert enterprise(fetched) == {"department": "Research", "employeeNumber": "701984"}
    assert ENTERPRISE in fetched["schemas"]


def test_declared_custom_extension_data_is_accepted_without_its_urn_in_schemas(
    scim: httpx.Client, database: Any, org: Any
) -> None:
    """MS-ATTR custom extension attribute (E-21): Entra omits the extension URN from schemas."""
    urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
    orgs.add_schema(
        database,
        org.id,
        "User",
        {
            "id": urn,
            "name": "CustomExtensionName",
            "attributes": [
                {
                    "name": "CustomAttribute",
                    "type": "string",
                    "multiValued": False,
                    "required": False,
                    "caseExact": False,
                    "mutability": "readWrite",
                    "returned": "default",
                    "uniqueness": "none",
                }
            ],
        },
        required=False,
        actor="tests",
    )
    created = create_user(
        scim,
        {"schemas": [USER], "userName": "custom@contoso.com", urn: {"CustomAttribute": "701984"}},
    )
    patched = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": f"{urn}:CustomAttribute", "value": "701985"}],
        },
    )
    assert_patched(patched)
    fetched = get_user(scim, created["id"])
    assert fetched[urn] == {"CustomAttribute": "701985"}
    assert urn in fetched["schemas"]


def test_undeclared_extension_with_data_is_refused_with_invalid_value(scim: httpx.Client) -> None:
    """idsync design decision (docs/clients.md): extension data needs a declared schema (E-21)."""
    urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
    response = scim.post(
        "/Users",
        json={
            "schemas": [USER],
            "userName": "undeclared@contoso.com",
            urn: {"CustomAttribute": "701984"},
        },
    )
    assert_scim_error(response, 400, "invalidValue")
    assert urn in response.json()["detail"]
    assert filter_users(scim, 'userName eq "undeclared@contoso.com"')["totalResults"] == 0


def test_disable_with_string_false_and_capitalised_op(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E1, default (unflagged) body verbatim; re-enable with "True"; notes §4 #11."""
    created = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert_patched(response)
    if response.status_code == 200:
        assert response.json()["active"] is False
    assert get_user(scim, created["id"])["active"] is False

    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "True"}],
        },
    )
    assert_patched(response)
    assert get_user(scim, created["id"])["active"] is True


def test_disable_with_lowercase_string_false_and_capitalised_op(scim: httpx.Client) -> None:
    """scimmyjs/scimmy #86 (FIELD, Q-E1 variant): "op": "Replace" with "value": "false"."""
    created = create_user(scim)
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "false"}],
        },
    )
    assert_patched(response)
    assert get_user(scim, created["id"])["active"] is False


def test_disable_with_boolean_false_and_lowercase_op_under_flag(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E1, aadOptscim062020 body verbatim; notes §4 #12."""
    created = create_user(scim)
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
    )
    assert_patched(response)
    assert get_user(scim, created["id"])["active"] is False


def test_non_boolean_string_for_active_is_invalid_value(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E1 handling: only "true"/"false" strings are coerced; notes §4 #12."""
    created = create_user(scim)
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": "nope"}],
        },
    )
    assert_scim_error(response, 400, "invalidValue")
    assert get_user(scim, created["id"])["active"] is True


def test_disable_with_capitalised_op_and_boolean_value(scim: httpx.Client) -> None:
    """MS-TUT E-07 "Disable User", body verbatim (Operations before schemas)."""
    created = create_user(scim)
    response = user_patch(
        scim,
        created["id"],
        {
            "Operations": [{"op": "Replace", "path": "active", "value": False}],
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        },
    )
    assert_patched(response)
    assert get_user(scim, created["id"])["active"] is False


def test_inactive_user_is_still_returned_by_get_and_by_filter(scim: httpx.Client) -> None:
    """MS-TUT requirements table: soft-deleted users stay visible until hard-deleted; §4 #14."""
    created = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    assert_patched(
        user_patch(
            scim,
            created["id"],
            {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
    )
    fetched = get_user(scim, created["id"])
    assert fetched["active"] is False
    found = filter_users(scim, 'userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"')
    assert [r["id"] for r in found["Resources"]] == [created["id"]]
    assert found["Resources"][0]["active"] is False
    listed = scim.get("/Users").json()
    assert created["id"] in [r["id"] for r in listed["Resources"]]


def test_add_single_valued_attribute_with_capitalised_op(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E2, default body verbatim; notes §4 #15."""
    created = create_user(scim)
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Add", "path": "nickName", "value": "Babs"}],
        },
    )
    assert_patched(response)
    assert get_user(scim, created["id"])["nickName"] == "Babs"


def test_add_single_valued_attribute_replaces_it_with_lowercase_op(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E2, aadOptscim062020 body verbatim; add on a set attribute replaces it."""
    created = create_user(scim, user(nickName="Barbie"))
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "nickName", "value": "Babs"}],
        },
    )
    assert_patched(response)
    assert get_user(scim, created["id"])["nickName"] == "Babs"


def test_one_replace_op_per_attribute_updates_all_six_including_enterprise_urn_path(
    scim: httpx.Client,
) -> None:
    """MS-COMPAT Q-E3, default (unflagged) body verbatim; notes §4 #16."""
    created = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Pvlo"},
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "TestBcwqnm@test.microsoft.com",
                },
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
                {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
                {"op": "Replace", "path": "externalId", "value": "Eqpj"},
                {
                    "op": "Replace",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                    "value": "Eqpj",
                },
            ],
        },
    )
    assert_patched(response)
    fetched = get_user(scim, created["id"])
    assert fetched["displayName"] == "Pvlo"
    assert fetched["emails"] == [
        {"primary": True, "type": "work", "value": "TestBcwqnm@test.microsoft.com"}
    ]
    assert fetched["name"]["givenName"] == "Gtfd"
    assert fetched["name"]["familyName"] == "Pkqf"
    assert fetched["externalId"] == "Eqpj"
    assert enterprise(fetched)["employeeNumber"] == "Eqpj"
    assert ENTERPRISE in fetched["schemas"]


def test_path_less_replace_with_dotted_and_urn_qualified_keys(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E3, aadOptscim062020 body verbatim; SCIM-SDK #267 (FIELD); notes §4 #17."""
    created = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "TestMhvaes@test.microsoft.com",
                },
                {
                    "op": "replace",
                    "value": {
                        "displayName": "Bjfe",
                        "name.givenName": "Kkom",
                        "name.familyName": "Unua",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
                    },
                },
            ],
        },
    )
    assert_patched(response)
    fetched = get_user(scim, created["id"])
    assert fetched["displayName"] == "Bjfe"
    assert fetched["name"] == {
        "formatted": "givenName familyName",
        "givenName": "Kkom",
        "familyName": "Unua",
    }
    assert enterprise(fetched) == {"employeeNumber": "Aklq"}
    assert ENTERPRISE in fetched["schemas"]
    assert fetched["emails"] == [
        {"primary": True, "type": "work", "value": "TestMhvaes@test.microsoft.com"}
    ]
    for stray in (
        "name.givenName",
        "name.familyName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ):
        assert stray not in fetched


def test_path_less_add_with_dotted_name_keys_creates_the_name(scim: httpx.Client) -> None:
    """pond/scimitar #123 (FIELD, Q-E3): Entra's path-less "add" with dotted keys; notes §4 #18."""
    created = create_user(scim, user("foo.bar@contoso.com"))
    assert "name" not in created
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "add",
                    "value": {
                        "displayName": "Foo Bar",
                        "title": "Bar Foo",
                        "name.givenName": "Foo",
                        "name.familyName": "Bar",
                        "name.formatted": "Foo Bar",
                    },
                }
            ],
        },
    )
    assert_patched(response)
    fetched = get_user(scim, created["id"])
    assert fetched["displayName"] == "Foo Bar"
    assert fetched["title"] == "Bar Foo"
    assert fetched["name"] == {"givenName": "Foo", "familyName": "Bar", "formatted": "Foo Bar"}


def test_replace_work_email_value_creates_the_missing_work_email(scim: httpx.Client) -> None:
    """MS-TUT E-05 body verbatim on a user without emails (upsert, wire-server PR #5419); §4 #19."""
    created = create_user(
        scim,
        user("noemail@contoso.com", name={"givenName": "givenName", "familyName": "familyName"}),
    )
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "updatedEmail@microsoft.com",
                },
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            ],
        },
    )
    assert_patched(response)
    fetched = get_user(scim, created["id"])
    assert fetched["emails"] == [{"type": "work", "value": "updatedEmail@microsoft.com"}]
    assert fetched["name"]["familyName"] == "updatedFamilyName"
    assert fetched["name"]["givenName"] == "givenName"


def test_replace_work_email_value_changes_only_that_element(scim: httpx.Client) -> None:
    """MS-TUT E-05 body verbatim on a user that has a work and a home email; notes §4 #19."""
    created = create_user(
        scim,
        user(
            emails=[
                {"type": "work", "value": "old@microsoft.com", "primary": True},
                {"type": "home", "value": "home@example.com"},
            ]
        ),
    )
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "updatedEmail@microsoft.com",
                },
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            ],
        },
    )
    assert_patched(response)
    fetched = get_user(scim, created["id"])
    assert fetched["emails"] == [
        {"type": "work", "value": "updatedEmail@microsoft.com", "primary": True},
        {"type": "home", "value": "home@example.com"},
    ]
    assert fetched["name"] == {"familyName": "updatedFamilyName"}


def test_add_work_email_sub_attributes_as_separate_ops_with_string_true_primary(
    scim: httpx.Client,
) -> None:
    """SimpleIdServer #376 (FIELD, E-05) and Metatavu/keycloak-scim-server #35; notes §4 #20."""
    created = create_user(scim)
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Add", "path": 'emails[type eq "work"].value', "value": "new@contoso.com"},
                {"op": "Add", "path": 'emails[type eq "work"].primary', "value": "true"},
                {"op": "Add", "path": 'emails[type eq "work"].type', "value": "work"},
            ],
        },
    )
    assert_patched(response)
    emails = get_user(scim, created["id"])["emails"]
    assert len(emails) == 1
    assert emails[0]["value"] == "new@contoso.com"
    assert emails[0]["type"] == "work"
    assert emails[0]["primary"] is True


def test_typed_address_phone_and_other_email_paths_upsert_with_capitalised_sub_attributes(
    scim: httpx.Client,
) -> None:
    """MS-TUT / MS-ATTR mapping table (E-22): typed paths incl. .Formatted and .Value; §4 #21."""
    created = create_user(scim, user(addresses=[{"type": "other", "formatted": "old other"}]))
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Replace",
                    "path": 'addresses[type eq "work"].formatted',
                    "value": "1 Microsoft Way",
                },
                {"op": "Replace", "path": 'addresses[type eq "work"].postalCode', "value": "98052"},
                {
                    "op": "Replace",
                    "path": 'addresses[type eq "other"].Formatted',
                    "value": "2 Other Rd",
                },
                {
                    "op": "Replace",
                    "path": 'phoneNumbers[type eq "mobile"].value',
                    "value": "+1 555 0100",
                },
                {
                    "op": "Replace",
                    "path": 'phoneNumbers[type eq "work"].value',
                    "value": "+1 555 0101",
                },
                {
                    "op": "Add",
                    "path": 'emails[type eq "other"].Value',
                    "value": "other@contoso.com",
                },
            ],
        },
    )
    assert_patched(response)
    fetched = get_user(scim, created["id"])
    addresses = {a["type"]: a for a in fetched["addresses"]}
    assert len(fetched["addresses"]) == 2
    assert addresses["work"] == {
        "type": "work",
        "formatted": "1 Microsoft Way",
        "postalCode": "98052",
    }
    assert addresses["other"] == {"type": "other", "formatted": "2 Other Rd"}
    phones = {p["type"]: p["value"] for p in fetched["phoneNumbers"]}
    assert phones == {"mobile": "+1 555 0100", "work": "+1 555 0101"}
    assert fetched["emails"] == [{"type": "other", "value": "other@contoso.com"}]


def test_rename_username_and_rename_onto_a_taken_username_is_409(scim: httpx.Client) -> None:
    """MS-TUT E-06 "Update User [Single-valued properties]" body verbatim; notes §4 #22."""
    first = create_user(scim)
    response = user_patch(
        scim,
        first["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Replace",
                    "path": "userName",
                    "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com",
                }
            ],
        },
    )
    assert_patched(response)
    assert (
        get_user(scim, first["id"])["userName"]
        == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    )

    second = create_user(scim)
    clash = user_patch(
        scim,
        second["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Replace",
                    "path": "userName",
                    "value": "5B50642D-79FC-4410-9E90-4C077CDD1A59@testuser.com",
                }
            ],
        },
    )
    assert_scim_error(clash, 409, "uniqueness")
    assert get_user(scim, second["id"])["userName"] == second["userName"]


def test_manager_as_bare_string_on_urn_path_is_returned_as_complex_value(
    scim: httpx.Client,
) -> None:
    """MS Q&A 188003 (FIELD, Microsoft-employee confirmed, E-20): manager as a bare id; §4 #23."""
    boss = create_user(scim)
    new_boss = create_user(scim)
    employee = create_user(scim)
    response = user_patch(
        scim,
        employee["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Add",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": boss["id"],
                }
            ],
        },
    )
    assert_patched(response)
    manager = enterprise(get_user(scim, employee["id"]))["manager"]
    assert isinstance(manager, dict)
    assert manager["value"] == boss["id"]
    assert manager["$ref"].endswith(f"/Users/{boss['id']}")

    response = user_patch(
        scim,
        employee["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Replace",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": new_boss["id"],
                }
            ],
        },
    )
    assert_patched(response)
    manager = enterprise(get_user(scim, employee["id"]))["manager"]
    assert manager["value"] == new_boss["id"]
    assert manager["$ref"].endswith(f"/Users/{new_boss['id']}")


def test_manager_as_legacy_array_with_ref_on_plain_manager_path(scim: httpx.Client) -> None:
    """MS-TUT "Example 5" (E-20 legacy form): path "manager", value [{"$ref", "value"}]; §4 #24."""
    boss = create_user(scim)
    employee = create_user(scim)
    response = user_patch(
        scim,
        employee["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Add",
                    "path": "manager",
                    "value": [{"$ref": f"http://.../scim/Users/{boss['id']}", "value": boss["id"]}],
                }
            ],
        },
    )
    assert_patched(response)
    manager = enterprise(get_user(scim, employee["id"]))["manager"]
    assert manager["value"] == boss["id"]
    assert manager["$ref"].endswith(f"/Users/{boss['id']}")


def test_manager_on_manager_value_sub_attribute_path(scim: httpx.Client) -> None:
    """E-20 handling: accept urn:…:User:manager.value as a path too (notes 1.C E-20)."""
    boss = create_user(scim)
    employee = create_user(scim)
    response = user_patch(
        scim,
        employee["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": f"{ENTERPRISE}:manager.value", "value": boss["id"]}
            ],
        },
    )
    assert_patched(response)
    assert enterprise(get_user(scim, employee["id"]))["manager"]["value"] == boss["id"]


def test_manager_cleared_by_replace_with_empty_string(scim: httpx.Client) -> None:
    """MS-REF SCIM_Update_Manager_Test "remove (Replace with empty)" (E-20); notes §4 #25."""
    boss = create_user(scim)
    employee = create_user(
        scim,
        user(**{ENTERPRISE: {"manager": {"value": boss["id"]}}, "schemas": [USER, ENTERPRISE]}),
    )
    response = user_patch(
        scim,
        employee["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Replace",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": "",
                }
            ],
        },
    )
    assert_patched(response)
    assert "manager" not in enterprise(get_user(scim, employee["id"]))


def test_manager_cleared_by_remove(scim: httpx.Client) -> None:
    """E-20 manager removal: {"op":"Remove","path":"urn:…:manager"}; notes §4 #25."""
    boss = create_user(scim)
    employee = create_user(
        scim,
        user(
            **{
                ENTERPRISE: {"manager": {"value": boss["id"]}, "department": "R&D"},
                "schemas": [USER, ENTERPRISE],
            }
        ),
    )
    response = user_patch(
        scim,
        employee["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Remove",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                }
            ],
        },
    )
    assert_patched(response)
    assert enterprise(get_user(scim, employee["id"])) == {"department": "R&D"}


def test_manager_that_is_not_a_user_is_dropped_with_a_warning(scim: httpx.Client) -> None:
    """idsync design decision for E-20 reference failures (MS-QUAR: not counted to quarantine)."""
    employee = create_user(scim)
    response = user_patch(
        scim,
        employee["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Add",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                }
            ],
        },
    )
    assert_patched(response)
    assert response.headers["warning"].startswith('299 idsync "')
    assert "00aa00aa-bb11-cc22-dd33-44ee44ee44ee" in response.headers["warning"]
    assert "manager" not in enterprise(get_user(scim, employee["id"]))


def test_replace_with_empty_string_and_null_clears_optional_attributes(scim: httpx.Client) -> None:
    """MS-REF SCIM_Null_Update_Test (E-25): "" and null on optional attributes; notes §4 #26."""
    created = create_user(
        scim,
        user(nickName="Babs", title="Engineer", displayName="Barbara", preferredLanguage="en-US"),
    )
    empty = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": "nickName", "value": ""},
                {"op": "Replace", "path": "title", "value": ""},
            ],
        },
    )
    assert_patched(empty)
    null = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": "displayName", "value": None},
                {"op": "Replace", "path": "preferredLanguage", "value": None},
                {"op": "Replace", "path": "nickName", "value": None},
            ],
        },
    )
    assert_patched(null)
    fetched = get_user(scim, created["id"])
    for cleared in ("nickName", "title", "displayName", "preferredLanguage"):
        assert fetched.get(cleared) in (None, ""), cleared
    assert fetched["userName"] == created["userName"]


def test_role_targeted_by_primary_eq_string_true_filter(scim: httpx.Client) -> None:
    """MS-TUT / MS-ATTR mapping (E-22): roles[primary eq "True"].value compares a string "True"."""
    created = create_user(
        scim,
        user(
            roles=[
                {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "User"},
                {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "value": "Other"},
            ]
        ),
    )
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "Admin"},
                {"op": "Replace", "path": 'roles[primary eq "True"].display', "value": "Admin"},
            ],
        },
    )
    assert_patched(response)
    roles = get_user(scim, created["id"])["roles"]
    assert roles == [
        {
            "primary": True,
            "type": "WindowsAzureActiveDirectoryRole",
            "value": "Admin",
            "display": "Admin",
        },
        {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "value": "Other"},
    ]


def test_roles_from_post_and_assertive_replace_of_all_roles(scim: httpx.Client) -> None:
    """MS-ATTR "Provisioning a role to a SCIM app" (Q-E5): POST roles, then replace all roles."""
    response = scim.post(
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": "alias",
            "userName": "alias@contoso.OnMicrosoft.com",
            "active": True,
            "displayName": "First Name Last Name",
            "meta": {"resourceType": "User"},
            "roles": [
                {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
            ],
        },
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    assert get_user(scim, user_id)["roles"] == [
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
    ]
    patched = user_patch(
        scim,
        user_id,
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "replace",
                    "path": "roles",
                    "value": [
                        {
                            "primary": False,
                            "type": "WindowsAzureActiveDirectoryRole",
                            "display": "User",
                            "value": "User",
                        },
                        {
                            "primary": False,
                            "type": "WindowsAzureActiveDirectoryRole",
                            "display": "Test",
                            "value": "Test",
                        },
                    ],
                }
            ],
        },
    )
    assert_patched(patched)
    roles = get_user(scim, user_id)["roles"]
    assert sorted(r["value"] for r in roles) == ["Test", "User"]
    assert all(r["primary"] is False for r in roles)


def test_role_added_as_json_encoded_string_is_accepted_and_appended(scim: httpx.Client) -> None:
    """MS-ATTR SingleAppRoleAssignment PATCH (Q-E5): the role arrives as a JSON string in value."""
    created = create_user(
        scim,
        user(
            roles=[{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
        ),
    )
    response = user_patch(
        scim,
        created["id"],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Add",
                    "path": "roles",
                    "value": [
                        {
                            "value": '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25",'
                            '"displayName":"Role1234"}'
                        }
                    ],
                }
            ],
        },
    )
    assert_patched(response)
    roles = get_user(scim, created["id"])["roles"]
    assert len(roles) == 2
    assert roles[0]["value"] == "Admin"


def test_hard_delete_then_the_same_username_can_be_created_again(scim: httpx.Client) -> None:
    """MS-TUT E-08, MS-REF Restore_User_Test: DELETE, then the same userName again; §4 #42."""
    created = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    deleted = scim.delete(f"/Users/{created['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_scim_error(scim.get(f"/Users/{created['id']}"), 404)
    assert (
        filter_users(scim, 'userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"')[
            "totalResults"
        ]
        == 0
    )
    again = create_user(scim, copy.deepcopy(E01_CREATE_USER))
    assert again["id"] != created["id"]
    assert get_user(scim, again["id"])["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"


def test_get_unknown_user_is_404_with_string_status(scim: httpx.Client) -> None:
    """MS-TUT E-02 not found: 404, Error schema, "status": "404"; MS-LOGS InvalidAnchor; §4 #40."""
    assert_scim_error(scim.get("/Users/5171a35d82074e068ce2"), 404)


def test_patch_of_unknown_user_is_404(scim: httpx.Client) -> None:
    """MS-LOGS-2019 InvalidAnchor: a PATCH to a cached id that no longer exists answers 404."""
    response = user_patch(
        scim,
        "5171a35d82074e068ce2",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert_scim_error(response, 404)


def test_user_pagination_echoes_start_index_and_keeps_a_stable_order(scim: httpx.Client) -> None:
    """MS-REF SCIM_User_Pagination_Test (E-26): startIndex=N&count=5 across pages; §4 #39."""
    ids = {create_user(scim)["id"] for _ in range(7)}
    first = scim.get("/Users", params={"startIndex": 1, "count": 5}).json()
    second = scim.get("/Users", params={"startIndex": 6, "count": 5}).json()
    assert (first["startIndex"], first["itemsPerPage"], first["totalResults"]) == (1, 5, 7)
    assert (second["startIndex"], second["itemsPerPage"], second["totalResults"]) == (6, 2, 7)
    paged = [r["id"] for r in first["Resources"] + second["Resources"]]
    assert sorted(paged) == sorted(ids)
    again = scim.get("/Users", params={"startIndex": 1, "count": 5}).json()
    assert [r["id"] for r in again["Resources"]] == [r["id"] for r in first["Resources"]]


# ----------------------------------------------------------------------------- groups


def test_create_group_with_adscim_schema_uri_and_meta_and_no_members(scim: httpx.Client) -> None:
    """MS-TUT E-09 "Create Group" body verbatim; MS-COMPAT "invalid schema URI" row; §4 #27."""
    response = scim.post("/Groups", json=copy.deepcopy(E09_CREATE_GROUP))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"]
    assert created["members"] == []
    fetched = get_group(scim, created["id"])
    assert fetched["schemas"] == [GROUP]
    assert ADSCIM_GROUP not in fetched["schemas"]
    assert fetched["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert fetched["displayName"] == "displayName"
    assert fetched["meta"]["resourceType"] == "Group"
    assert fetched.get("members", []) == []


def test_create_group_with_taken_display_name_is_409(scim: httpx.Client) -> None:
    """MS-TUT: "Groups must have uniqueness on the 'displayName' value" (E-09)."""
    create_group(scim, "displayName")
    body = copy.deepcopy(E09_CREATE_GROUP)
    body["displayName"] = "DISPLAYNAME"
    body["externalId"] = "another-external-id"
    assert_scim_error(scim.post("/Groups", json=body), 409, "uniqueness")
    found = scim.get("/Groups", params={"filter": 'displayName eq "DISPLAYNAME"'}).json()
    assert found["totalResults"] == 1


def test_get_group_excluding_members(scim: httpx.Client, org: Any) -> None:
    """MS-TUT E-10: GET /Groups/{id}?excludedAttributes=members has no members key; §4 #29."""
    created = create_group(scim, "displayName", [create_user(scim)["id"]])
    response = scim.get(f"{org.scim_url}/Groups/{created['id']}?excludedAttributes=members")
    assert response.status_code == 200, response.text
    body = response.json()
    assert "members" not in body
    assert body["id"] == created["id"]
    assert body["displayName"] == "displayName"
    assert body["meta"]["resourceType"] == "Group"


def test_group_lookup_by_display_name_excluding_members_in_either_parameter_order(
    scim: httpx.Client, org: Any
) -> None:
    """MS-TUT E-11: ?excludedAttributes=members&filter=displayName eq "displayName"; §4 #29."""
    created = create_group(scim, "displayName", [create_user(scim)["id"]])
    for query in (
        "excludedAttributes=members&filter=displayName+eq+%22displayName%22",
        "filter=displayName%20eq%20%22displayName%22&excludedAttributes=members",
    ):
        response = scim.get(f"{org.scim_url}/Groups?{query}")
        assert response.status_code == 200, (query, response.text)
        body = response.json()
        assert body["totalResults"] == 1
        assert body["Resources"][0]["id"] == created["id"]
        assert "members" not in body["Resources"][0]


def test_group_filter_decodes_escaped_quotes(scim: httpx.Client) -> None:
    """MS-TUT E-11 handling: decode \\" inside quoted filter strings (MS-KNOWN: rare from Entra)."""
    created = create_group(scim, 'Team "A"')
    create_group(scim, "Team A")
    response = scim.get("/Groups", params={"filter": 'displayName eq "Team \\"A\\""'})
    assert response.status_code == 200, response.text
    assert [g["id"] for g in response.json()["Resources"]] == [created["id"]]


def test_rename_group_with_capitalised_replace(scim: httpx.Client) -> None:
    """MS-TUT E-12 "Update Group [Non-member attributes]" body verbatim."""
    created = create_group(scim)
    response = scim.patch(
        f"/Groups/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Replace",
                    "path": "displayName",
                    "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName",
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert (
        response.json()["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    )
    assert (
        get_group(scim, created["id"])["displayName"]
        == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    )


def test_add_members_with_null_ref_adds_both_without_duplicates(scim: httpx.Client) -> None:
    """MS-TUT E-13 (verbatim shape, "$ref": null) with two values (gallery checklist); §4 #30."""
    u1, u2 = create_user(scim)["id"], create_user(scim)["id"]
    created = create_group(scim)
    response = scim.patch(
        f"/Groups/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Add",
                    "path": "members",
                    "value": [{"$ref": None, "value": u1}, {"value": u2}],
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert sorted(m["value"] for m in response.json()["members"]) == sorted([u1, u2])
    assert sorted(member_ids(scim, created["id"])) == sorted([u1, u2])
    again = scim.patch(
        f"/Groups/{created['id']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Add", "path": "members", "value": [{"$ref": None, "value": u1}]}
            ],
        },
    )
    assert again.status_code == 200, again.text
    assert sorted(member_ids(scim, created["id"])) == sorted([u1, u2])


def test_group_patch_with_prefer_return_minimal_is_204(scim: httpx.Client) -> None:
    """MS-TUT: group PATCH "should yield an HTTP 204 No Content" (E-13); idsync's Prefer header."""
    u1 = create_user(scim)["id"]
    created = create_group(scim)
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers={"Prefer": "return=minimal"},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Add", "path": "members", "value": [{"$ref": None, "value": u1}]}
            ],
        },
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert member_ids(scim, created["id"]) == [u1]


def test_remove_member_with_value_array_removes_only_that_member(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E4 default body (azure-docs #30826: must not empty the group); §4 #31."""
    u1, u2 = create_user(scim)["id"], create_user(scim)["id"]
    created = create_group(scim, members=[u1, u2])
    response = scim.patch(
        f"/Groups/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Remove", "path": "members", "value": [{"value": u1}]}],
        },
    )
    assert response.status_code == 200, response.text
    assert member_ids(scim, created["id"]) == [u2]


def test_remove_member_with_null_ref_in_value_array_removes_only_that_member(
    scim: httpx.Client,
) -> None:
    """MS-TUT E-14 "Update Group [Remove Members]" shape verbatim ("$ref": null); §4 #31."""
    u1, u2, u3 = create_user(scim)["id"], create_user(scim)["id"], create_user(scim)["id"]
    created = create_group(scim, members=[u1, u2, u3])
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers={"Prefer": "return=minimal"},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": u2}]}
            ],
        },
    )
    assert response.status_code == 204, response.text
    assert sorted(member_ids(scim, created["id"])) == sorted([u1, u3])


def test_remove_member_that_is_not_in_the_group_is_a_no_op(scim: httpx.Client) -> None:
    """MS-TUT E-14: "Removing a member who is not in the group should be a silent no-op"."""
    u1, outsider = create_user(scim)["id"], create_user(scim)["id"]
    created = create_group(scim, members=[u1])
    response = scim.patch(
        f"/Groups/{created['id']}",
        headers={"Prefer": "return=minimal"},
        json={
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": outsider}]}
            ],
        },
    )
    assert response.status_code == 204, response.text
    assert member_ids(scim, created["id"]) == [u1]


def test_remove_member_by_value_filter_path_under_flag(scim: httpx.Client) -> None:
    """MS-COMPAT Q-E4 aadOptscim062020 body (RFC form) with a real member id; §4 #32."""
    u1, u2 = create_user(scim)["id"], create_user(scim)["id"]
    created = create_group(scim, members=[u1, u2])
    response = scim.patch(
        f"/Groups/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": f'members[value eq "{u2}"]'}],
        },
    )
    assert response.status_code == 200, response.text
    assert member_ids(scim, created["id"]) == [u1]


def test_remove_members_without_value_or_filter_removes_all(scim: httpx.Client) -> None:
    """RFC 7644 §3.5.2.2 semantics still hold when no value is given (Q-E4 handling); §4 #33."""
    created = create_group(scim, members=[create_user(scim)["id"], create_user(scim)["id"]])
    response = scim.patch(
        f"/Groups/{created['id']}",
        json={"schemas": [PATCH_OP], "Operations": [{"op": "Remove", "path": "members"}]},
    )
    assert response.status_code == 200, response.text
    assert member_ids(scim, created["id"]) == []


def test_several_membership_changes_in_one_patch(scim: httpx.Client) -> None:
    """MS-TUT gallery checklist: "updating multiple group memberships with a single PATCH"."""
    u1, u2, u3, u4 = (create_user(scim)["id"] for _ in range(4))
    created = create_group(scim, members=[u1, u2])
    response = scim.patch(
        f"/Groups/{created['id']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Add",
                    "path": "members",
                    "value": [{"$ref": None, "value": u3}, {"$ref": None, "value": u4}],
                },
                {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": u1}]},
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert sorted(member_ids(scim, created["id"])) == sorted([u2, u3, u4])


def test_add_member_that_is_not_in_the_organisation_is_skipped_with_a_warning(
    scim: httpx.Client,
) -> None:
    """MS-TUT E-13 unknown member / MS-QUAR reference failures; idsync answers 200 + Warning."""
    u1 = create_user(scim)["id"]
    created = create_group(scim)
    response = scim.patch(
        f"/Groups/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "Add",
                    "path": "members",
                    "value": [
                        {"$ref": None, "value": "f648f8d5ea4e4cd38e9c"},
                        {"$ref": None, "value": u1},
                    ],
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["warning"].startswith('299 idsync "')
    assert "f648f8d5ea4e4cd38e9c" in response.headers["warning"]
    assert member_ids(scim, created["id"]) == [u1]


def test_groups_filter_by_id_and_member(scim: httpx.Client) -> None:
    """Older MS-TUT requirement "querying groups by ID and by member" (E-19 handling)."""
    u1, u2 = create_user(scim)["id"], create_user(scim)["id"]
    created = create_group(scim, members=[u1])
    hit = scim.get(
        "/Groups",
        params={
            "filter": f'id eq "{created["id"]}" and members eq "{u1}"',
            "excludedAttributes": "members",
        },
    )
    assert hit.status_code == 200, hit.text
    assert [g["id"] for g in hit.json()["Resources"]] == [created["id"]]
    miss = scim.get("/Groups", params={"filter": f'id eq "{created["id"]}" and members eq "{u2}"'})
    assert miss.status_code == 200, miss.text
    assert miss.json()["totalResults"] == 0


def test_delete_group_is_204_and_the_group_is_gone(scim: httpx.Client) -> None:
    """MS-TUT E-15 "Delete Group"; §4 #43."""
    created = create_group(scim, "displayName")
    response = scim.delete(f"/Groups/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_scim_error(scim.get(f"/Groups/{created['id']}"), 404)
    assert (
        scim.get("/Groups", params={"filter": 'displayName eq "displayName"'}).json()[
            "totalResults"
        ]
        == 0
    )


# ----------------------------------------------------------------- discovery, tenant URL


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


def test_schemas_list_user_group_and_enterprise_without_null_values(scim: httpx.Client) -> None:
    """MS-TUT E-16 "Discover schema" rules and MS-REF checklist 2.1.8; notes §4 #44."""
    response = scim.get("/Schemas")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert type(body["totalResults"]) is int
    ids = {s["id"] for s in body["Resources"]}
    assert {USER, GROUP, ENTERPRISE} <= ids
    assert not _has_null(body)
    for schema in body["Resources"]:
        assert schema["meta"]["location"]
        for attribute in schema["attributes"]:
            assert {"name", "type", "multiValued", "required", "mutability", "returned"} <= set(
                attribute
            )
            assert attribute["mutability"] in ("readOnly", "readWrite", "immutable", "writeOnly")
    config = scim.get("/ServiceProviderConfig")
    assert config.status_code == 200, config.text
    assert config.json()["patch"]["supported"] is True
    resource_types = scim.get("/ResourceTypes")
    assert resource_types.status_code == 200, resource_types.text
    assert {"User", "Group"} <= {r["name"] for r in resource_types.json()["Resources"]}


def test_tenant_url_with_aadOptscim062020_flag_is_tolerated(scim: httpx.Client, org: Any) -> None:
    """MS-COMPAT: the flag rides in the Tenant URL (scim-for-keycloak #26, FIELD); notes §4 #45."""
    base = org.scim_url
    created = scim.post(f"{base}/Users?aadOptscim062020", json=copy.deepcopy(E01_CREATE_USER))
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    found = scim.get(
        f"{base}/Users?aadOptscim062020"
        "&filter=userName+eq+%22Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee%22"
    )
    assert found.status_code == 200, found.text
    assert [r["id"] for r in found.json()["Resources"]] == [user_id]
    patched = scim.patch(
        f"{base}/Users/{user_id}?aadOptscim062020",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
    )
    assert_patched(patched)
    fetched = scim.get(f"{base}/Users/{user_id}?aadOptscim062020")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["active"] is False
    missing = scim.get(f"{base}/Users?aadOptscim062020&filter=userName+eq+%22nobody%22")
    assert missing.status_code == 200, missing.text
    assert missing.json()["totalResults"] == 0


def test_unknown_query_parameters_are_ignored(scim: httpx.Client, org: Any) -> None:
    """MS-COMPAT handling: "Do not 400 on unknown query params"; notes §4 #45."""
    created = create_user(scim)
    response = scim.get(f"{org.scim_url}/Users/{created['id']}?AzureAdScimPatch2017&foo=bar")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"]
    listed = scim.get(f"{org.scim_url}/Users?foo=bar&filter=id+eq+%22{created['id']}%22")
    assert listed.status_code == 200, listed.text
    assert listed.json()["totalResults"] == 1
