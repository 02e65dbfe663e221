"""The management API as a script drives it (an API key, both databases): add an
integration of another kind with its settings, read it back without its credentials,
change and remove it; users paged by id; the audit log filtered; tokens."""

from __future__ import annotations

import uuid

import httpx

from idsync.manage import operators, orgs
from idsync.store.database import Database
from tests.conftest import Server
from tests.console.conftest import PASSWORD


def scripted(database: Database, server: Server, role: str = "full") -> tuple[httpx.Client, str]:
    org = orgs.create_org(database, f"API {uuid.uuid4().hex[:8]}", actor="tests").id
    email = f"script-{uuid.uuid4().hex[:8]}@example.com"
    operators.create_operator(database, email, PASSWORD, role, org, actor="tests")
    key = operators.create_key(database, email, "tests", actor="tests").secret
    client = httpx.Client(
        base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return client, org


def test_a_script_adds_reads_changes_and_removes_an_integration(
    database: Database, server: Server
) -> None:
    api, org = scripted(database, server)
    secret = "scim-token-" + uuid.uuid4().hex
    added = api.post(
        f"/orgs/{org}/integrations",
        json={
            "kind": "scim",
            "name": "CRM",
            "settings": {"url": "https://crm.example.com/scim/v2", "token": secret},
        },
    )
    assert added.status_code == 201, added.text
    integration = added.json()
    assert integration["kind"] == "scim"
    assert integration["has_credentials"] is True
    assert secret not in added.text

    listed = api.get(f"/orgs/{org}/integrations").json()
    assert [i["integration"]["name"] for i in listed] == ["CRM"]
    assert listed[0]["job"]["status"] == "NotRun"
    one = api.get(f"/integrations/{integration['id']}")
    assert secret not in one.text
    assert one.json()["integration"]["settings"]["url"] == "https://crm.example.com/scim/v2"

    changed = api.patch(
        f"/integrations/{integration['id']}", json={"options": {"auto_sync": False}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["auto_sync"] is False

    refused = api.post(f"/orgs/{org}/integrations", json={"kind": "scim", "name": "CRM"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"].startswith("IDS-400-")
    assert refused.json()["tracking_id"].startswith("IDS_")

    assert api.delete(f"/integrations/{integration['id']}").status_code == 204
    assert api.get(f"/orgs/{org}/integrations").json() == []
    activities = [e["activity"] for e in api.get(f"/orgs/{org}/audit-log").json()]
    assert {"Add integration", "Update integration", "Remove integration"} <= set(activities)


def test_users_are_paged_by_id_and_tokens_are_shown_once(
    database: Database, server: Server
) -> None:
    api, org = scripted(database, server)
    issued = api.post(f"/orgs/{org}/tokens", json={"name": "Entra provisioning"})
    assert issued.status_code == 201
    token = issued.json()["secret"]
    assert token not in api.get(f"/orgs/{org}/tokens").text
    scim = httpx.Client(
        base_url=f"{server.url}/scim/{org}/v2", headers={"Authorization": f"Bearer {token}"}
    )
    for n in range(60):
        made = scim.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"u{n:02d}",
            },
        )
        assert made.status_code == 201
    first = api.get(f"/orgs/{org}/users").json()
    assert (first["total"], len(first["items"]), first["previous"]) == (60, 50, None)
    rest = api.get(f"/orgs/{org}/users", params={"after": first["next"]}).json()
    assert (len(rest["items"]), rest["next"]) == (10, None)
    seen = {u["userName"] for u in first["items"] + rest["items"]}
    assert seen == {f"u{n:02d}" for n in range(60)}
    back = api.get(f"/orgs/{org}/users", params={"before": rest["previous"]}).json()
    assert back["items"] == first["items"]
    found = api.get(f"/orgs/{org}/users", params={"search": "U0"}).json()
    assert sorted(u["userName"] for u in found["items"]) == [f"u0{n}" for n in range(10)]
    security = api.get(f"/orgs/{org}/audit-log", params={"category": "Security"}).json()
    assert {e["activity"] for e in security} >= {"Create token", "Create operator"}
