"""The identity platform endpoints, driven by a real msal client and raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import msal
import pytest

from tests.emulator.conftest import Emulator

GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]


def test_msal_client_credentials_token_is_accepted_by_graph(shared_emulator: Emulator) -> None:
    result = shared_emulator.msal_app().acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert result.get("token_type") == "Bearer", result
    assert result["expires_in"] == 3599
    client = shared_emulator.client(result["access_token"])
    response = client.get("/v1.0/users", params={"$top": "1"})
    assert response.status_code == 200
    assert len(response.json()["value"]) == 1


def test_token_response_has_microsofts_shape(shared_emulator: Emulator) -> None:
    response = shared_emulator.token_request()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3599
    # The emulator's own Graph URL is accepted as the resource too.
    own = shared_emulator.token_request(scope=f"{shared_emulator['graph_url']}/.default")
    assert own.status_code == 200


def _assert_aadsts(response: httpx.Response, status: int, error: str, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert body["error_codes"] == [code]
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    assert f"Trace ID: {body['trace_id']}" in body["error_description"]


def test_token_errors(shared_emulator: Emulator) -> None:
    _assert_aadsts(
        shared_emulator.token_request(client_secret="not-the-secret"),
        401,
        "invalid_client",
        7000215,
    )
    _assert_aadsts(
        shared_emulator.token_request(client_id="11111111-2222-3333-4444-555555555555"),
        400,
        "unauthorized_client",
        700016,
    )
    _assert_aadsts(
        shared_emulator.token_request(scope="https://graph.microsoft.com/User.Read"),
        400,
        "invalid_scope",
        1002012,
    )
    _assert_aadsts(
        shared_emulator.token_request(grant_type="password"), 400, "unsupported_grant_type", 70003
    )
    with httpx.Client(verify=shared_emulator.ssl_context) as client:
        unknown_tenant = client.post(
            f"{shared_emulator['url']}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": shared_emulator["client_id"]},
        )
    _assert_aadsts(unknown_tenant, 400, "invalid_request", 90002)


def test_msal_reports_token_errors(shared_emulator: Emulator) -> None:
    bad_secret = shared_emulator.msal_app(secret="wrong").acquire_token_for_client(
        scopes=GRAPH_DEFAULT
    )
    assert bad_secret["error"] == "invalid_client"
    assert 7000215 in bad_secret["error_codes"]
    unknown_app = shared_emulator.msal_app(
        client_id="11111111-2222-3333-4444-555555555555"
    ).acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert unknown_app["error"] == "unauthorized_client"
    assert "AADSTS700016" in unknown_app["error_description"]


def test_msal_refuses_unknown_tenant(shared_emulator: Emulator) -> None:
    with httpx.Client(verify=shared_emulator.ssl_context) as client:
        discovery = client.get(
            f"{shared_emulator['url']}/not-a-tenant.example/v2.0/.well-known/openid-configuration"
        )
    assert discovery.status_code == 400
    assert discovery.json()["error"] == "invalid_tenant"
    assert discovery.json()["error_codes"] == [90002]
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.ConfidentialClientApplication(
            shared_emulator["client_id"],
            client_credential=shared_emulator["client_secret"],
            authority=f"{shared_emulator['url']}/not-a-tenant.example",
            verify=shared_emulator["ca_file"],
            instance_discovery=False,
        )


def test_discovery_documents(shared_emulator: Emulator) -> None:
    with httpx.Client(verify=shared_emulator.ssl_context) as client:
        config = client.get(
            f"{shared_emulator['authority']}/v2.0/.well-known/openid-configuration"
        ).json()
        assert config["token_endpoint"] == f"{shared_emulator['authority']}/oauth2/v2.0/token"
        assert config["issuer"] == f"{shared_emulator['authority']}/v2.0"
        assert config["authorization_endpoint"].endswith("/oauth2/v2.0/authorize")
        # By the tenant's domain name too.
        by_domain = client.get(
            f"{shared_emulator['url']}/{shared_emulator['tenant_domain']}/v2.0/.well-known/openid-configuration"
        )
        assert by_domain.json()["token_endpoint"] == config["token_endpoint"]
        instance = client.get(
            f"{shared_emulator['url']}/common/discovery/instance",
            params={
                "api-version": "1.1",
                "authorization_endpoint": f"{shared_emulator['authority']}/oauth2/v2.0/authorize",
            },
        ).json()
        assert instance["tenant_discovery_endpoint"] == (
            f"{shared_emulator['authority']}/v2.0/.well-known/openid-configuration"
        )
        assert instance["metadata"][0]["aliases"]


def _signed_in_code(emulator: Emulator, verifier: str, **extra: str) -> tuple[str, str]:
    """Authorize with a PKCE challenge for ``verifier`` and sign in as the administrator;
    (code, redirect URI) from the redirect that follows (response_mode=query)."""
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    redirect = "http://localhost:8400"
    params = {
        "client_id": "14d82eec-204b-4c2f-b7e8-296a70dab67e",
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": "openid https://graph.microsoft.com/AuditLog.Read.All",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": "n-1",
        **extra,
    }
    with httpx.Client(verify=emulator.ssl_context, base_url=emulator["url"]) as browser:
        page = browser.get(f"/{emulator['tenant_id']}/oauth2/v2.0/authorize", params=params)
        handle = re.search(r'name="request" value="([^"]+)"', page.text)
        assert handle is not None, page.text
        done = browser.post(
            f"/{emulator['tenant_id']}/oauth2/v2.0/authorize",
            data={
                "request": handle[1],
                "login": emulator["admin_upn"],
                "passwd": emulator["admin_password"],
            },
        )
    assert done.status_code == 302, done.text
    location = httpx.URL(done.headers["location"])
    assert str(location).startswith(redirect)
    return location.params["code"], redirect


def _redeem(emulator: Emulator, code: str, redirect: str, verifier: str) -> httpx.Response:
    with httpx.Client(verify=emulator.ssl_context) as client:
        return client.post(
            f"{emulator['authority']}/oauth2/v2.0/token",
            data={
                "grant_type": "authorization_code",
                "client_id": "14d82eec-204b-4c2f-b7e8-296a70dab67e",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
        )


def test_an_authorization_code_is_redeemed_once_with_its_verifier(
    shared_emulator: Emulator,
) -> None:
    verifier = "v" * 50
    code, redirect = _signed_in_code(shared_emulator, verifier)
    _assert_aadsts(_redeem(shared_emulator, code, redirect, "w" * 50), 400, "invalid_grant", 501481)
    # A refused verifier spent the code, as the platform does.
    _assert_aadsts(_redeem(shared_emulator, code, redirect, verifier), 400, "invalid_grant", 70008)

    code, redirect = _signed_in_code(shared_emulator, verifier)
    answer = _redeem(shared_emulator, code, redirect, verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["scope"] == "https://graph.microsoft.com/AuditLog.Read.All"
    assert {"access_token", "id_token", "refresh_token", "client_info"} <= body.keys()
    audits = shared_emulator.client(body["access_token"]).get("/v1.0/auditLogs/directoryAudits")
    assert audits.status_code == 200
    # The delegated token reads the audit log only: it was asked for nothing else.
    users = shared_emulator.client(body["access_token"]).get("/v1.0/users")
    assert users.status_code == 403


def test_the_authorization_endpoint_refuses_what_the_platform_refuses(
    shared_emulator: Emulator,
) -> None:
    base = f"{shared_emulator['url']}/{shared_emulator['tenant_id']}/oauth2/v2.0/authorize"
    good = {
        "client_id": "14d82eec-204b-4c2f-b7e8-296a70dab67e",
        "response_type": "code",
        "redirect_uri": "http://localhost:8400",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    with httpx.Client(verify=shared_emulator.ssl_context) as browser:
        for change, code in (
            ({"client_id": "00000000-0000-0000-0000-000000000000"}, 700016),
            ({"redirect_uri": "https://elsewhere.example/back"}, 50011),
            ({"code_challenge": ""}, 9002325),
            ({"response_type": "token"}, 700054),
        ):
            page = browser.get(base, params={**good, **change})
            assert f"AADSTS{code}" in page.text, (change, page.text)
