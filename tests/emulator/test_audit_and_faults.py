"""The directory audit log, and fault injection."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.emulator.conftest import Emulator


def test_directory_audits(emulator: Emulator) -> None:
    admin = emulator.admin()
    user_id = admin.get("/v1.0/users", params={"$top": "3"}).json()["value"][2]["id"]
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.01)
    for title in ("One", "Two", "Three"):
        assert admin.patch(f"/v1.0/users/{user_id}", json={"jobTitle": title}).status_code == 204

    everything = admin.get("/v1.0/auditLogs/directoryAudits").json()["value"]
    times = [e["activityDateTime"] for e in everything]
    assert times == sorted(times, reverse=True)  # newest first
    for event in everything:
        assert {
            "id",
            "category",
            "correlationId",
            "result",
            "resultReason",
            "activityDisplayName",
            "activityDateTime",
            "loggedByService",
            "operationType",
            "initiatedBy",
            "targetResources",
            "additionalDetails",
        } <= set(event)

    updates = admin.get(
        "/v1.0/auditLogs/directoryAudits",
        params={
            "$filter": f"activityDisplayName eq 'Update user' and category eq 'UserManagement' and activityDateTime ge {since}"
        },
    ).json()["value"]
    assert len(updates) == 3
    assert [u["targetResources"][0]["modifiedProperties"][0]["newValue"] for u in updates] == [
        '["Three"]',
        '["Two"]',
        '["One"]',
    ]
    assert all(u["targetResources"][0]["id"] == user_id for u in updates)

    first = admin.get(
        "/v1.0/auditLogs/directoryAudits",
        params={"$top": "2", "$filter": "category eq 'UserManagement'"},
    ).json()
    assert len(first["value"]) == 2
    second = admin.get(first["@odata.nextLink"]).json()
    assert [e["id"] for e in first["value"] + second["value"]] == [e["id"] for e in updates]
    assert "@odata.nextLink" not in second

    none = admin.get(
        "/v1.0/auditLogs/directoryAudits", params={"$filter": "activityDateTime ge 2999-01-01"}
    ).json()
    assert none["value"] == []
    bad = admin.get("/v1.0/auditLogs/directoryAudits", params={"$filter": "nonsense"})
    assert bad.status_code == 400
    # The sync app holds AuditLog.Read.All.
    reader = emulator.client(emulator.app_token())
    assert reader.get("/v1.0/auditLogs/directoryAudits", params={"$top": "1"}).status_code == 200


def _fault(emulator: Emulator, **spec: object) -> None:
    response = emulator.admin().post(f"{emulator['url']}/_emulator/faults", json=spec)
    assert response.status_code == 201, response.text


def test_fault_injection(emulator: Emulator) -> None:
    reader = emulator.client(emulator.app_token())
    # Faults are for tests only: the sync app cannot queue them.
    assert (
        reader.post(f"{emulator['url']}/_emulator/faults", json={"path": "/v1.0/"}).status_code
        == 403
    )

    _fault(emulator, path="/v1.0/users/delta", status=429, retry_after=7, count=2)
    for _ in range(2):
        throttled = reader.get("/v1.0/users/delta")
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "7"
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert throttled.headers["request-id"]
    assert reader.get("/v1.0/users/delta").status_code == 200

    _fault(emulator, path="/v1.0/groups", method="POST", status=503)
    assert reader.get("/v1.0/groups").status_code == 200  # other methods pass
    assert emulator.admin().post("/v1.0/groups", json={}).status_code == 503

    _fault(emulator, path="/v1.0/users", status=401)
    unauthorized = reader.get("/v1.0/users")
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "InvalidAuthenticationToken"

    _fault(emulator, path="/v1.0/users/delta", action="hang", seconds=3)
    with pytest.raises(httpx.ReadTimeout):
        reader.get("/v1.0/users/delta", timeout=0.5)
    assert reader.get("/v1.0/users/delta").status_code == 200

    _fault(emulator, path="/v1.0/groups/delta", action="reset")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        emulator.client(emulator.app_token()).get("/v1.0/groups/delta")
    assert reader.get("/v1.0/groups/delta").status_code == 200

    # The token endpoint can be faulted too (an outage of the identity platform).
    _fault(emulator, path=f"/{emulator['tenant_id']}/oauth2/v2.0/token", status=500)
    assert emulator.token_request().status_code == 500
    assert emulator.token_request().status_code == 200

    _fault(emulator, path="/v1.0/", status=500, count=5)
    listed = emulator.admin().get(f"{emulator['url']}/_emulator/faults").json()["value"]
    assert [f["count"] for f in listed] == [5]
    assert emulator.admin().delete(f"{emulator['url']}/_emulator/faults").status_code == 204
    assert reader.get("/v1.0/users").status_code == 200
    invalid = emulator.admin().post(f"{emulator['url']}/_emulator/faults", json={"path": "x"})
    assert invalid.status_code == 400


def test_bulk_mutation_for_benchmarks(emulator: Emulator) -> None:
    reader = emulator.client(emulator.app_token())
    _, users_link, _ = _round(reader, "/v1.0/users/delta")
    response = emulator.admin().post(
        f"{emulator['url']}/_emulator/mutate", json={"count": 30, "seed": 5}
    )
    assert response.status_code == 200
    assert response.json()["applied"] == 30
    changed, _, _ = _round(reader, users_link)
    assert 0 < len(changed) <= 30 + 50


def _round(client: httpx.Client, url: str) -> tuple[list[dict[str, object]], str, int]:
    from tests.emulator.conftest import read_round

    return read_round(client, url)
