"""What a cycle does when the directory fails: quarantine on refused credentials,
retry on throttling and transient errors, and never delete anyone because of it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from idsync.store.database import Database
from tests.conftest import Server
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    connect,
    hub_resources,
    idsync,
)


def _active_users(connected: Connected) -> int:
    return sum(1 for user in hub_resources(connected.scim, "/Users") if user["active"])


def _delete_service_principal(emulator: Emulator) -> None:
    client_id = emulator.info["client_id"]
    found = emulator.admin.get(
        "/v1.0/servicePrincipals", params={"$filter": f"appId eq '{client_id}'"}
    )
    assert found.status_code == 200, found.text
    sp = found.json()["value"][0]
    assert emulator.admin.delete(f"/v1.0/servicePrincipals/{sp['id']}").status_code == 204


def _grant_admin_consent(emulator: Emulator) -> None:
    """What the administrator does in the browser: open the consent link, press Accept."""
    info = emulator.info
    params = {
        "client_id": info["client_id"],
        "redirect_uri": info["redirect_uris"][0],
        "state": "s1",
    }
    with httpx.Client(base_url=info["url"], verify=emulator.tls, follow_redirects=False) as browser:
        page = browser.get(f"/{info['tenant_id']}/adminconsent", params=params)
        assert page.status_code == 200, page.text
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page.text, re.S)
        assert form is not None
        fields = dict(re.findall(r'name="([^"]+)"\s+value="([^"]*)"', form.group(2)))
        accepted = browser.post(
            form.group(1).replace("&amp;", "&"), data={**fields, "action": "accept"}
        )
        assert accepted.status_code in (302, 303), accepted.text
        assert "admin_consent=True" in accepted.headers["location"]


def test_deleted_service_principal_quarantines_and_deletes_nobody(
    connected: Connected, emulator: Emulator
) -> None:
    assert connected.sync()["status"] == "Active"
    active = _active_users(connected)
    # Not the tenant's administrator: the test's own Graph calls use that account.
    some_user = next(
        user["externalId"]
        for user in hub_resources(connected.scim, "/Users")
        if user["userName"] != emulator.info["admin_upn"]
    )
    assert emulator.admin.delete(f"/v1.0/users/{some_user}").status_code == 204
    _delete_service_principal(emulator)

    report = connected.sync()
    assert report["status"] == "Quarantine", report
    assert report["reason_code"] == "IDS-502-012"
    assert "adminconsent?client_id=" in report["reason"]
    assert report["delete"] == report["disable"] == 0
    assert _active_users(connected) == active
    status = connected.status()
    assert (status["status"], status["reason_code"]) == ("Quarantine", "IDS-502-012")

    # The repair: consent again (a new service principal), then restart the job.
    _grant_admin_consent(emulator)
    idsync(
        connected.database_url, "sync", "restart", connected.integration_id, "--reset", "quarantine"
    )
    repaired = connected.sync()
    assert repaired["status"] == "Active", repaired
    assert_hub_equals_directory(connected, emulator)


@pytest.mark.parametrize(("status", "code"), [(401, "IDS-502-010"), (403, "IDS-502-011")])
def test_refused_credentials_quarantine_at_once(
    connected: Connected, emulator: Emulator, status: int, code: str
) -> None:
    connected.sync()
    active = _active_users(connected)
    emulator.fault(path="/v1.0/users/delta", action="status", status=status, count=50)
    report = connected.sync()
    assert (report["status"], report["reason_code"]) == ("Quarantine", code), report
    assert report["create"] == report["update"] == report["delete"] == report["disable"] == 0
    assert _active_users(connected) == active


def test_throttling_honours_retry_after_and_completes(
    connected: Connected, emulator: Emulator
) -> None:
    emulator.fault(path="/v1.0/users/delta", action="status", status=429, retry_after=1, count=2)
    report = connected.sync()
    assert report["status"] == "Active", report
    assert report["failed"] == 0
    assert_hub_equals_directory(connected, emulator)


def test_timeouts_and_resets_are_retried(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator, "--timeout", "1", "--page-size", "10")
    emulator.fault(path="/v1.0/users/delta", action="hang", seconds=3, count=1)
    emulator.fault(path="/v1.0/groups/delta", action="reset", count=1)
    emulator.fault(path="/v1.0/users/delta", action="status", status=503, count=1)
    report = connected.sync()
    assert report["status"] == "Active", report
    assert_hub_equals_directory(connected, emulator)


def test_persistent_server_errors_fail_the_cycle_and_lose_nothing(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator, "--page-size", "10")
    emulator.fault(path="/v1.0/groups/delta", action="status", status=500, count=100)
    failed: dict[str, Any] = connected.sync()
    assert failed["reason_code"] == "IDS-503-011", failed
    assert failed["status"] == "NotRun"  # the first cycle never completed
    assert connected.status()["resumable"] is True
    users_written = len(hub_resources(connected.scim, "/Users"))
    assert users_written > 0  # the users phase was applied before the groups failed

    emulator.admin.delete("/_emulator/faults")
    resumed = connected.sync()
    assert resumed["status"] == "Active", resumed
    assert (
        resumed["counts"].get("usersRead", 0) >= users_written
    )  # carried over from the checkpoint
    assert_hub_equals_directory(connected, emulator)
