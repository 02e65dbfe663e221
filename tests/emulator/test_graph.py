"""Graph reads and writes, and Graph's error shapes."""

from __future__ import annotations

from tests.emulator.conftest import Emulator

NEW_USER = {
    "accountEnabled": True,
    "displayName": "Adele Vance",
    "mailNickname": "adelev",
    "userPrincipalName": "adelev@contoso.example",
    "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": "xWwvJ]6NMw+bWH-d"},
}


def _error(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    error = body["error"]
    assert error["code"] == code
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    return dict(error)


def test_every_response_carries_request_ids(shared_emulator: Emulator) -> None:
    client = shared_emulator.client(shared_emulator.app_token())
    echoed = client.get(
        "/v1.0/users", params={"$top": "1"}, headers={"client-request-id": "my-id-1"}
    )
    assert echoed.headers["client-request-id"] == "my-id-1"
    assert echoed.headers["request-id"]
    missing = shared_emulator.client().get("/v1.0/users", headers={"client-request-id": "my-id-2"})
    error = _error(missing, 401, "InvalidAuthenticationToken")
    assert error["innerError"]["client-request-id"] == "my-id-2"  # type: ignore[index]
    assert error["innerError"]["request-id"] == missing.headers["request-id"]  # type: ignore[index]
    _error(
        shared_emulator.client("not-a-token").get("/v1.0/users"), 401, "InvalidAuthenticationToken"
    )


def test_app_permissions_are_enforced(shared_emulator: Emulator) -> None:
    reader = shared_emulator.client(shared_emulator.app_token())
    _error(reader.post("/v1.0/users", json=NEW_USER), 403, "Authorization_RequestDenied")
    _error(
        reader.delete(f"/v1.0/users/{shared_emulator['admin_upn']}"),
        403,
        "Authorization_RequestDenied",
    )
    assert reader.get("/v1.0/servicePrincipals").status_code == 200
    assert reader.get("/v1.0/organization").json()["value"][0]["id"] == shared_emulator["tenant_id"]


def test_user_and_group_writes(emulator: Emulator) -> None:
    admin = emulator.admin()
    created = admin.post("/v1.0/users", json=NEW_USER)
    assert created.status_code == 201
    user = created.json()
    assert user["userPrincipalName"] == "adelev@contoso.example"
    assert created.headers["location"].endswith(f"/v1.0/users/{user['id']}")
    assert admin.get(f"/v1.0/users/{user['id']}").json()["displayName"] == "Adele Vance"
    by_upn = admin.get(
        "/v1.0/users/adelev@contoso.example", params={"$select": "id,accountEnabled,department"}
    )
    assert by_upn.json() == {
        "@odata.context": by_upn.json()["@odata.context"],
        "accountEnabled": True,
        "department": None,
        "id": user["id"],
    }
    assert admin.patch(f"/v1.0/users/{user['id']}", json={"department": "Sales"}).status_code == 204
    filtered = admin.get(
        "/v1.0/users", params={"$filter": "userPrincipalName eq 'adelev@contoso.example'"}
    )
    assert [u["id"] for u in filtered.json()["value"]] == [user["id"]]

    _error(admin.post("/v1.0/users", json=NEW_USER), 400, "Request_BadRequest")  # same UPN
    _error(
        admin.post("/v1.0/users", json={**NEW_USER, "userPrincipalName": "x@other.example"}),
        400,
        "Request_BadRequest",
    )
    missing = {k: v for k, v in NEW_USER.items() if k != "passwordProfile"}
    _error(
        admin.post("/v1.0/users", json={**missing, "userPrincipalName": "y@contoso.example"}),
        400,
        "Request_BadRequest",
    )
    _error(
        admin.patch(f"/v1.0/users/{user['id']}", json={"favouriteColour": "red"}),
        400,
        "Request_BadRequest",
    )
    _error(
        admin.get("/v1.0/users/00000000-0000-0000-0000-000000000000"),
        404,
        "Request_ResourceNotFound",
    )
    _error(admin.get("/v1.0/users", params={"$select": "nope"}), 400, "BadRequest")

    manager = admin.get("/v1.0/users", params={"$top": "1"}).json()["value"][0]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{manager['id']}"}
    assert admin.put(f"/v1.0/users/{user['id']}/manager/$ref", json=ref).status_code == 204
    assert admin.get(f"/v1.0/users/{user['id']}/manager").json()["id"] == manager["id"]
    assert admin.delete(f"/v1.0/users/{user['id']}/manager/$ref").status_code == 204
    _error(admin.get(f"/v1.0/users/{user['id']}/manager"), 404, "Request_ResourceNotFound")

    group = admin.post(
        "/v1.0/groups",
        json={
            "displayName": "Pilots",
            "mailEnabled": False,
            "mailNickname": "pilots",
            "securityEnabled": True,
        },
    ).json()
    own_url = {"@odata.id": f"{emulator['graph_url']}/v1.0/directoryObjects/{user['id']}"}
    assert admin.post(f"/v1.0/groups/{group['id']}/members/$ref", json=own_url).status_code == 204
    _error(
        admin.post(f"/v1.0/groups/{group['id']}/members/$ref", json=own_url),
        400,
        "Request_BadRequest",
    )
    members = admin.get(f"/v1.0/groups/{group['id']}/members").json()["value"]
    assert [(m["@odata.type"], m["id"]) for m in members] == [("#microsoft.graph.user", user["id"])]
    assert admin.delete(f"/v1.0/groups/{group['id']}/members/{user['id']}/$ref").status_code == 204
    _error(
        admin.delete(f"/v1.0/groups/{group['id']}/members/{user['id']}/$ref"),
        404,
        "Request_ResourceNotFound",
    )
    assert (
        admin.patch(
            f"/v1.0/groups/{group['id']}", json={"description": "Early adopters"}
        ).status_code
        == 204
    )
    assert admin.get(f"/v1.0/groups/{group['id']}").json()["description"] == "Early adopters"
    assert admin.delete(f"/v1.0/groups/{group['id']}").status_code == 204
    _error(admin.get(f"/v1.0/groups/{group['id']}"), 404, "Request_ResourceNotFound")
    assert admin.delete(f"/v1.0/users/{user['id']}").status_code == 204
    _error(admin.get(f"/v1.0/users/{user['id']}"), 404, "Request_ResourceNotFound")


def test_unknown_paths_and_methods(shared_emulator: Emulator) -> None:
    admin = shared_emulator.admin()
    _error(admin.get("/v1.0/teams"), 400, "BadRequest")
    _error(admin.put("/v1.0/users"), 405, "Request_BadRequest")


def test_list_paging(shared_emulator: Emulator) -> None:
    admin = shared_emulator.admin()
    page = admin.get("/v1.0/users", params={"$top": "20", "$select": "displayName"}).json()
    seen = [u["id"] for u in page["value"]]
    while "@odata.nextLink" in page:
        page = admin.get(page["@odata.nextLink"]).json()
        seen += [u["id"] for u in page["value"]]
        assert set(page["value"][0]) == {"id", "displayName"}
    assert len(seen) == len(set(seen)) == 50


def test_library_mode_runs_in_a_thread() -> None:
    import ssl

    import httpx

    from idsync.emulator.context import EmulatorConfig
    from idsync.emulator.seed import SeedConfig
    from idsync.emulator.server import RunningEmulator

    with RunningEmulator(EmulatorConfig(seed=SeedConfig(users=5, groups=2))) as running:
        info = running.info
        context = ssl.create_default_context(cafile=info["ca_file"])
        with httpx.Client(verify=context) as client:
            token = client.post(
                f"{info['authority']}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": info["client_id"],
                    "client_secret": info["client_secret"],
                    "scope": "https://graph.microsoft.com/.default",
                },
            ).json()["access_token"]
            users = client.get(
                f"{info['graph_url']}/v1.0/users/delta",
                headers={"Authorization": f"Bearer {token}"},
            ).json()["value"]
    assert len(users) == 5
