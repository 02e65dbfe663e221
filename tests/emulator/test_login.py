"""The identity platform endpoints, driven by a real msal client and raw HTTP."""

from __future__ import annotations

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
