"""When Entra ID or Graph refuses, throttles or stumbles: the right error, the right retries."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from idsync.connectors.entra.client import GraphClient
from idsync.connectors.entra.source import EntraSource
from idsync.contract.errors import AccessDenied, Throttled, Unavailable
from idsync.contract.records import ReadStart
from tests.connectors.conftest import Emulator


def read_users(source: EntraSource) -> int:
    return sum(len(page.objects) for page in source.read("user", ReadStart()))


def fault(emulator: Emulator, **spec: Any) -> None:
    emulator.write("POST", "/_emulator/faults", spec)


def pending_faults(emulator: Emulator) -> list[dict[str, Any]]:
    response = emulator.admin.get("/_emulator/faults")
    response.raise_for_status()
    body = response.json()
    return list(body["value"] if isinstance(body, dict) else body)


def service_principal_id(emulator: Emulator) -> str:
    app_filter = f"appId eq '{emulator.info['client_id']}'"
    found = emulator.all("/v1.0/servicePrincipals", **{"$filter": app_filter, "$select": "id"})
    return str(found[0]["id"])


def test_check_finds_our_service_principal(emulator: Emulator) -> None:
    with emulator.source() as source:
        health = source.check()
    assert health.ok, health.details
    assert health.details["service_principal_id"] == service_principal_id(emulator)
    # The emulator's app is granted what the connector needs (and the audit log).
    assert "User.Read.All" in health.details["roles_granted"]
    assert health.details["roles_needed"] == [
        "User.Read.All",
        "Group.Read.All",
        "Application.Read.All",
    ]
    assert health.details["roles_missing"] == []


def test_service_principal_deleted(emulator: Emulator) -> None:
    consent_url = (
        f"{emulator.info['url']}/{emulator.info['tenant_id']}"
        f"/adminconsent?client_id={emulator.info['client_id']}"
    )
    with emulator.source() as source:
        total = read_users(source)  # the source now holds a valid token
        assert total > 0
        emulator.write("DELETE", f"/v1.0/servicePrincipals/{service_principal_id(emulator)}")
        with pytest.raises(AccessDenied) as caught:
            read_users(source)
    error = caught.value
    assert error.error.code == "IDS-502-012"
    assert consent_url in str(error)
    assert "AADSTS7000229" in error.message
    assert "contoso-entra" in error.action

    with emulator.source() as fresh:  # no cached token: refused at the token endpoint
        with pytest.raises(AccessDenied) as again:
            read_users(fresh)
        health = fresh.check()
    assert again.value.error.code == "IDS-502-012"
    assert not health.ok
    assert health.details["code"] == "IDS-502-012"
    assert health.details["retryable"] is False


def test_the_consent_link_in_the_error_restores_access(emulator: Emulator) -> None:
    emulator.write("DELETE", f"/v1.0/servicePrincipals/{service_principal_id(emulator)}")
    with emulator.source() as source, pytest.raises(AccessDenied) as caught:
        read_users(source)
    consent_url = caught.value.params["consent_url"]
    page = emulator.admin.get(consent_url)  # what the administrator opens
    handle = re.search(r'name="request" value="([^"]+)"', page.text)
    assert handle is not None, page.text
    accepted = emulator.admin.post(
        urlsplit(consent_url).path, data={"request": handle.group(1), "decision": "accept"}
    )
    assert accepted.status_code in (302, 303), accepted.text
    with emulator.source() as source:
        assert read_users(source) > 0
        assert source.check().ok
        removals = list(source.directory_audits(activity="Remove service principal"))
    # Who removed it and when, as the health page will show it.
    assert [(r["category"], r["loggedByService"]) for r in removals] == [
        ("ApplicationManagement", "Core Directory")
    ]
    assert removals[0]["initiatedBy"]["user"]["userPrincipalName"] == emulator.info["admin_upn"]


def test_directory_audits_record_the_removal(emulator: Emulator) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    emulator.create_user("audited")
    with emulator.source() as source:
        records = list(source.directory_audits(activity="Add user", since=before))
        limited = list(source.directory_audits(top=1))
    assert records, "creating a user is audited as 'Add user'"
    assert {record["activityDisplayName"] for record in records} == {"Add user"}
    assert len(limited) == 1


def test_throttling_honours_retry_after(emulator: Emulator) -> None:
    waits: list[float] = []
    fault(emulator, path="/v1.0/users/delta", status=429, retry_after=2, count=2)
    fault(emulator, path="/v1.0/users/delta", status=503, retry_after=1, count=1)
    with emulator.source(sleep=waits.append) as source:
        assert read_users(source) > 0
    assert waits == [2.0, 2.0, 1.0]


def test_persistent_throttling_is_reported(emulator: Emulator) -> None:
    waits: list[float] = []
    fault(emulator, path="/v1.0/users/delta", status=429, retry_after=3, count=10)
    with emulator.source(sleep=waits.append) as source, pytest.raises(Throttled) as caught:
        read_users(source)
    assert waits == [3.0, 3.0, 3.0]  # FAST_RETRY allows three retries
    assert caught.value.retry_after == 3
    assert caught.value.error.code == "IDS-503-010"


def test_long_retry_after_is_not_slept_in_process(emulator: Emulator) -> None:
    waits: list[float] = []
    fault(emulator, path="/v1.0/users/delta", status=429, retry_after=3600, count=1)
    with emulator.source(sleep=waits.append) as source, pytest.raises(Throttled) as caught:
        read_users(source)
    assert waits == []
    assert caught.value.retry_after == 3600


@pytest.mark.parametrize(
    "spec",
    [
        {"status": 500, "count": 2},
        {"status": 502, "count": 1},
        {"action": "reset", "count": 2},
        {"action": "hang", "seconds": 3, "count": 1},
    ],
    ids=["500", "502", "reset", "timeout"],
)
def test_transient_errors_retried(emulator: Emulator, spec: dict[str, Any]) -> None:
    waits: list[float] = []
    expected = len(emulator.all("/v1.0/users", **{"$select": "id"}))
    fault(emulator, path="/v1.0/users/delta", **spec)
    with emulator.source(sleep=waits.append, timeout=1) as source:
        assert read_users(source) == expected
    assert len(waits) == spec["count"]
    assert all(0 < wait <= 0.05 for wait in waits)  # FAST_RETRY's backoff, with jitter


def test_persistent_errors_are_unavailable(emulator: Emulator) -> None:
    waits: list[float] = []
    fault(emulator, path="/v1.0/users/delta", status=500, count=50)
    with emulator.source(sleep=waits.append) as source, pytest.raises(Unavailable) as caught:
        read_users(source)
    assert len(waits) == 3  # four attempts in all
    assert caught.value.error.code == "IDS-503-011"
    assert "HTTP 500" in caught.value.message
    assert "gave up after 4 attempts" in caught.value.message
    assert "client-request-id" in caught.value.message


def test_persistent_resets_are_unavailable(emulator: Emulator) -> None:
    fault(emulator, path="/v1.0/users/delta", action="reset", count=50)
    with emulator.source(sleep=lambda _: None) as source, pytest.raises(Unavailable) as caught:
        read_users(source)
    assert "connection failed" in caught.value.message


def test_token_endpoint_throttling_is_waited_out(emulator: Emulator) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # really wait: msal replays the 429 until then
        waits.append(seconds)
        time.sleep(seconds)

    token_path = f"/{emulator.info['tenant_id']}/oauth2/v2.0/token"
    fault(emulator, path=token_path, method="POST", status=429, retry_after=1, count=1)
    with emulator.source(sleep=sleep) as source:
        assert read_users(source) > 0
    assert waits == [1.0]


def test_token_endpoint_failing_is_unavailable(emulator: Emulator) -> None:
    waits: list[float] = []
    token_path = f"/{emulator.info['tenant_id']}/oauth2/v2.0/token"
    fault(emulator, path=token_path, method="POST", status=500, count=50)
    with emulator.source(sleep=waits.append) as source, pytest.raises(Unavailable) as caught:
        read_users(source)
    # msal answers a failed token request from its cache for 5 s: no point retrying sooner.
    assert waits == [5.0, 5.0, 5.0]
    assert "token endpoint" in caught.value.message


def test_forbidden(emulator: Emulator) -> None:
    waits: list[float] = []
    fault(emulator, path="/v1.0/groups/delta", status=403, count=3)
    with emulator.source(sleep=waits.append) as source, pytest.raises(AccessDenied) as caught:
        list(source.read("group", ReadStart()))
    error = caught.value
    assert error.error.code == "IDS-502-011"
    assert error.status == 403
    assert "groups and their members" in error.message
    assert "Authorization_RequestDenied" in error.message
    assert "GroupMember.Read.All" in error.action
    assert waits == []
    assert sum(f["count"] for f in pending_faults(emulator)) == 2, "a 403 is never retried"


def test_unauthorized_after_a_fresh_token(emulator: Emulator) -> None:
    fault(emulator, path="/v1.0/users/delta", status=401, count=2)
    with emulator.source() as source, pytest.raises(AccessDenied) as caught:
        read_users(source)
    assert caught.value.error.code == "IDS-502-010"
    assert "InvalidAuthenticationToken" in caught.value.message


def test_one_401_is_healed_by_a_new_token(emulator: Emulator) -> None:
    fault(emulator, path="/v1.0/users/delta", status=401, count=1)
    with emulator.source() as source:
        assert read_users(source) > 0


def test_wrong_secret(emulator: Emulator) -> None:
    wrong = emulator.source(client_secret="not-the-secret")
    with wrong as source, pytest.raises(AccessDenied) as caught:
        read_users(source)
    assert caught.value.error.code == "IDS-502-013"
    assert "AADSTS7000215" in caught.value.message


def test_unknown_application_and_tenant(emulator: Emulator) -> None:
    stranger = str(uuid.uuid4())
    with emulator.source(client_id=stranger) as source, pytest.raises(AccessDenied) as app:
        read_users(source)
    with emulator.source(tenant_id=stranger) as source, pytest.raises(AccessDenied) as tenant:
        read_users(source)
    assert app.value.error.code == tenant.value.error.code == "IDS-502-014"
    assert stranger in app.value.message
    assert stranger in tenant.value.message


def test_secret_never_leaks(emulator: Emulator, capfd: pytest.CaptureFixture[str]) -> None:
    settings = emulator.settings()
    secret = emulator.info["client_secret"]
    client = GraphClient(settings)
    token = client.token()  # the one the source below sends (msal caches it)
    texts = [repr(settings), str(settings)]
    # A server that echoes the token back in an error must not get it into our messages.
    fault(emulator, path="/v1.0/users/delta", status=500, count=50, message=f"{token} {secret}")
    fault(emulator, path="/v1.0/groups/delta", status=403, count=1, message=f"{token}")
    with EntraSource(settings, client=client) as source:
        for object_type in ("user", "group"):
            with pytest.raises((Unavailable, AccessDenied)) as caught:
                list(source.read(object_type, ReadStart()))  # type: ignore[arg-type]
            texts += [str(caught.value), repr(caught.value), repr(caught.value.params)]
    with emulator.source(client_secret=f"{secret}-wrong") as source:
        with pytest.raises(AccessDenied) as refused:
            read_users(source)
        texts += [str(refused.value), repr(refused.value.params), repr(source.settings)]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    assert "<redacted>" in texts[2]
    assert "entra.retry" in captured.out + captured.err, "the retries were logged: checked too"
    for text in texts:
        assert secret not in text
        assert token[:40] not in text
