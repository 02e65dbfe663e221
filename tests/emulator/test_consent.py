"""The incident and its repair: the sync app's service principal is deleted, then re-consented."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.emulator.conftest import Emulator

GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
REDIRECT = "http://localhost:8123/idsync/adminconsent"


def _sync_sp(emulator: Emulator) -> dict[str, Any]:
    response = emulator.admin().get(
        "/v1.0/servicePrincipals", params={"$filter": f"appId eq '{emulator['client_id']}'"}
    )
    assert response.status_code == 200
    (sp,) = response.json()["value"]
    return dict(sp)


def _delete_sp(emulator: Emulator) -> dict[str, Any]:
    sp = _sync_sp(emulator)
    response = emulator.admin().delete(f"/v1.0/servicePrincipals/{sp['id']}")
    assert response.status_code == 204
    return sp


def _consent_form(emulator: Emulator, client: httpx.Client, **params: str) -> tuple[str, str]:
    page = client.get(f"{emulator['authority']}/adminconsent", params=params)
    assert page.status_code == 200
    handle = re.search(r'name="request" value="([^"]+)"', page.text)
    assert handle, page.text
    return page.text, handle.group(1)


def test_service_principal_deletion(emulator: Emulator) -> None:
    token = emulator.msal_app().acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"]
    reader = emulator.client(token)
    assert reader.get("/v1.0/users/delta").status_code == 200
    # The app itself may read service principals but not delete them.
    sp = _sync_sp(emulator)
    assert reader.delete(f"/v1.0/servicePrincipals/{sp['id']}").status_code == 403

    deleted = _delete_sp(emulator)
    refused = reader.get("/v1.0/users/delta")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert refused.headers["www-authenticate"].startswith("Bearer")

    result = emulator.msal_app().acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000229]
    assert "missing service principal in the tenant" in result["error_description"]
    assert emulator.admin().get(f"/v1.0/servicePrincipals/{deleted['id']}").status_code == 404

    audit = (
        emulator.admin()
        .get(
            "/v1.0/auditLogs/directoryAudits",
            params={"$filter": "activityDisplayName eq 'Remove service principal'"},
        )
        .json()["value"]
    )
    (event,) = audit
    assert event["category"] == "ApplicationManagement"
    assert event["loggedByService"] == "Core Directory"
    assert event["result"] == "success"
    assert event["operationType"] == "Delete"
    assert event["initiatedBy"]["user"]["userPrincipalName"] == emulator["admin_upn"]
    assert event["initiatedBy"]["app"] is None
    (target,) = event["targetResources"]
    assert target == {
        **target,
        "id": deleted["id"],
        "displayName": "idsync Directory Sync",
        "type": "ServicePrincipal",
    }


def test_admin_consent(start_emulator: Any) -> None:
    emulator = start_emulator("--users", "10", "--groups", "3", "--redirect-uri", REDIRECT)
    old = _delete_sp(emulator)
    with httpx.Client(verify=emulator.ssl_context) as browser:
        page, handle = _consent_form(
            emulator, browser, client_id=emulator["client_id"], redirect_uri=REDIRECT, state="s-123"
        )
        assert "idsync Directory Sync" in page
        for permission in (
            "User.Read.All",
            "Group.Read.All",
            "AuditLog.Read.All",
            "Application.Read.All",
        ):
            assert permission in page
        assert (
            "Read all users&#x27; full profiles" in page or "Read all users' full profiles" in page
        )
        assert 'value="accept"' in page and 'value="cancel"' in page

        answer = browser.post(
            f"{emulator['authority']}/adminconsent", data={"request": handle, "decision": "accept"}
        )
        assert answer.status_code == 302
        location = urlsplit(answer.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
        assert parse_qs(location.query) == {
            "admin_consent": ["True"],
            "tenant": [emulator["tenant_id"]],
            "state": ["s-123"],
        }
        # An answered request cannot be replayed.
        replay = browser.post(
            f"{emulator['authority']}/adminconsent", data={"request": handle, "decision": "accept"}
        )
        assert replay.status_code == 200 and "AADSTS" in replay.text

    new = _sync_sp(emulator)
    assert new["id"] != old["id"]
    result = emulator.msal_app().acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    assert emulator.client(result["access_token"]).get("/v1.0/groups/delta").status_code == 200

    events = (
        emulator.admin()
        .get("/v1.0/auditLogs/directoryAudits", params={"$top": "20"})
        .json()["value"]
    )
    activities = [e["activityDisplayName"] for e in events]
    assert activities.index("Consent to application") < activities.index("Add service principal")
    assert activities.index("Add service principal") < activities.index("Remove service principal")
    consent = next(e for e in events if e["activityDisplayName"] == "Consent to application")
    assert consent["targetResources"][0]["id"] == new["id"]
    assert consent["category"] == "ApplicationManagement"


def test_admin_consent_cancel(emulator: Emulator) -> None:
    default = emulator["redirect_uris"][0]
    before = _sync_sp(emulator)
    with httpx.Client(verify=emulator.ssl_context) as browser:
        _, handle = _consent_form(emulator, browser, client_id=emulator["client_id"], state="xyz")
        answer = browser.post(
            f"{emulator['authority']}/adminconsent", data={"request": handle, "decision": "cancel"}
        )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == default
    params = parse_qs(location.query)
    assert params["error"] == ["access_denied"]
    assert params["error_subcode"] == ["cancel"]
    assert params["state"] == ["xyz"]
    assert params["admin_consent"] == ["True"]
    assert params["error_description"][0].startswith("AADSTS65004: ")
    assert _sync_sp(emulator)["id"] == before["id"]


def test_admin_consent_refusals(emulator: Emulator) -> None:
    with httpx.Client(verify=emulator.ssl_context) as browser:
        unknown = browser.get(
            f"{emulator['authority']}/adminconsent",
            params={"client_id": "11111111-2222-3333-4444-555555555555"},
        )
        assert "AADSTS700016" in unknown.text
        assert "Accept" not in unknown.text
        wrong_redirect = browser.get(
            f"{emulator['url']}/{emulator['tenant_id']}/v2.0/adminconsent",
            params={
                "client_id": emulator["client_id"],
                "redirect_uri": "https://evil.example/callback",
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert "AADSTS50011" in wrong_redirect.text
        # Loopback redirect URIs match whatever the port (the console runs on localhost).
        loopback = browser.get(
            f"{emulator['url']}/{emulator['tenant_id']}/v2.0/adminconsent",
            params={
                "client_id": emulator["client_id"],
                "redirect_uri": emulator["redirect_uris"][0].replace("localhost", "localhost:9999"),
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert 'value="accept"' in loopback.text


def test_a_new_client_secret_replaces_an_expired_one(emulator: Emulator) -> None:
    """Graph's addPassword, as an administrator's script calls it: the new secret gets
    tokens, the expired one is refused, and the directory audit log has the change."""
    admin = emulator.admin()
    assert admin.post("/_emulator/break", json={"cause": "expire-secret"}).status_code == 200
    expired = emulator.token_request()
    assert expired.status_code == 401 and "AADSTS7000222" in expired.text

    added = admin.post(
        f"/v1.0/applications(appId='{emulator['client_id']}')/addPassword",
        json={"passwordCredential": {"displayName": "rotated"}},
    )
    assert added.status_code == 200, added.text
    credential = added.json()
    assert credential["displayName"] == "rotated"
    assert credential["hint"] == credential["secretText"][:3]
    assert emulator.token_request(client_secret=credential["secretText"]).status_code == 200
    old = emulator.token_request()
    assert old.status_code == 401 and "AADSTS7000215" in old.text

    audits = admin.get(
        "/v1.0/auditLogs/directoryAudits",
        params={"$filter": "category eq 'ApplicationManagement'"},
    ).json()["value"]
    assert any(
        event["activityDisplayName"].startswith("Update application – Certificates")
        for event in audits
    )
    refused = emulator.client().post(
        f"/v1.0/applications(appId='{emulator['client_id']}')/addPassword", json={}
    )
    assert refused.status_code == 401


def test_an_application_disabled_and_enabled_again(emulator: Emulator) -> None:
    """``PATCH /servicePrincipals/{id}`` with ``accountEnabled``: off, the token endpoint
    answers AADSTS7000112; on again, tokens come back."""
    admin = emulator.admin()
    [sp] = admin.get(
        "/v1.0/servicePrincipals", params={"$filter": f"appId eq '{emulator['client_id']}'"}
    ).json()["value"]
    off = admin.patch(f"/v1.0/servicePrincipals/{sp['id']}", json={"accountEnabled": False})
    assert off.status_code == 204
    disabled = emulator.token_request()
    assert disabled.status_code == 400 and "AADSTS7000112" in disabled.text
    other = admin.patch(f"/v1.0/servicePrincipals/{sp['id']}", json={"displayName": "x"})
    assert other.status_code == 400
    on = admin.patch(f"/v1.0/servicePrincipals/{sp['id']}", json={"accountEnabled": True})
    assert on.status_code == 204
    assert emulator.token_request().status_code == 200
