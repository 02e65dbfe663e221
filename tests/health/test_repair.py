"""Repair that finishes by itself: the removed service principal's consent link comes back
to ``idsync serve`` (``/consent/callback``), which checks the application, clears the
quarantine and runs an incremental cycle. Real processes over HTTP: the server, the
emulator's consent page, the CLI."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from idsync.config import Settings
from idsync.health.consent import StateSigner
from idsync.store import findings as stored_findings
from idsync.store.database import Database
from tests.commands import run_idsync
from tests.conftest import Server
from tests.entra_emulator import start_emulator
from tests.health.test_doctor import doctor
from tests.sync.conftest import Connected, Emulator, connect, hub_resources, idsync
from tests.sync.test_source_failures import _delete_service_principal


@pytest.fixture
def emulator(tmp_path: Path, server: Server) -> Iterator[Emulator]:
    """An emulator whose sync app accepts idsync serve's consent callback."""
    handle = start_emulator(
        tmp_path / "emulator.log",
        Emulator,
        users=12,
        groups=3,
        seed=11,
        redirect_uris=[f"{server.url}/consent/callback"],
    )
    yield handle
    handle.stop()


@pytest.fixture
def quarantined(
    database: Database, server: Server, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Connected]:
    """An integration whose enterprise application an administrator deleted: quarantined.
    The CLI's processes know the server's public URL (as a worker would, from the env)."""
    monkeypatch.setenv("IDSYNC_PUBLIC_URL", server.url)
    connected = connect(database, server, emulator)
    assert connected.sync()["status"] == "Active"
    _delete_service_principal(emulator)
    failed = connected.sync()
    assert (failed["status"], failed["reason_code"]) == ("Quarantine", "IDS-502-012"), failed
    assert failed["tracking_id"].startswith("IDS_")
    yield connected
    connected.scim.close()


def _consent_link(connected: Connected, server: Server) -> str:
    code, output = doctor(connected, "--integration", connected.integration_id, "--json")
    assert code == 1
    [finding] = output["findings"]
    assert finding["cause"] == "service_principal_removed"
    link = str(finding["repair"][0]["url"])
    query = parse_qs(urlsplit(link).query)
    assert query["redirect_uri"] == [f"{server.url}/consent/callback"]
    assert query["client_id"] and query["state"][0]
    assert finding["repair"][1]["command"] == f"idsync repair {connected.integration_id}"
    return link


def _answer_consent(emulator: Emulator, link: str, decision: str) -> str:
    """The administrator in the browser: open the link, press Accept or Cancel; where the
    emulator sends the browser back to."""
    with httpx.Client(verify=emulator.tls, follow_redirects=False) as browser:
        page = browser.get(link)
        assert page.status_code == 200, page.text
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page.text, re.S)
        assert form is not None
        fields = dict(re.findall(r'name="(request)"\s+value="([^"]*)"', form.group(2)))
        answered = browser.post(
            httpx.URL(link).join(form.group(1).replace("&amp;", "&")),
            data={**fields, "decision": decision},
        )
        assert answered.status_code in (302, 303), answered.text
        return str(answered.headers["location"])


def _settings(connected: Connected) -> str:
    """``integration show --json`` without the job (whose status the repair changes)."""
    shown = idsync(connected.database_url, "integration", "show", connected.integration_id)
    shown.pop("job")
    return json.dumps(shown, sort_keys=True)


def _active_users(connected: Connected) -> int:
    return sum(1 for user in hub_resources(connected.scim, "/Users") if user["active"])


def test_consent_accepted_repairs_the_job_by_itself(
    quarantined: Connected, emulator: Emulator, server: Server, database: Database
) -> None:
    connected = quarantined
    before = _settings(connected)
    active = _active_users(connected)
    link = _consent_link(connected, server)

    back = _answer_consent(emulator, link, "accept")
    assert back.startswith(f"{server.url}/consent/callback?")
    assert "admin_consent=True" in back
    page = httpx.get(back, timeout=120)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Repaired" in page.text
    assert '<strong id="mode">incremental</strong>' in page.text
    assert f"idsync validate {connected.integration_id}" in page.text

    status = connected.status()
    assert status["status"] == "Active", status
    assert _settings(connected) == before  # every setting as it was, byte for byte
    assert _active_users(connected) == active  # nobody deleted or disabled

    assert doctor(connected, "--integration", connected.integration_id, "--json") == (
        0,
        {"findings": []},
    )
    with database.read() as conn:
        resolved = stored_findings.list_findings(
            conn, connected.integration_id, include_resolved=True
        )
    [finding] = [f for f in resolved if f.cause == "service_principal_removed"]
    assert finding.status == "resolved"
    assert finding.evidence["activity"] == "Remove service principal"
    assert finding.evidence["actor"] == emulator.info["admin_upn"]
    assert finding.evidence["time"]
    assert finding.evidence["category"] == "ApplicationManagement"
    _assert_no_secret(emulator, server, page.text)

    # A later change in the directory arrives with the next cycle.
    domain = emulator.info["tenant_domain"]
    new_user = {
        "accountEnabled": True,
        "displayName": "After Repair",
        "mailNickname": "after.repair",
        "userPrincipalName": f"after.repair@{domain}",
        "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": "xWwvJ]6NMw+b"},
    }
    emulator.write("POST", "/v1.0/users", new_user)
    assert connected.sync()["status"] == "Active"
    names = {user["userName"] for user in hub_resources(connected.scim, "/Users")}
    assert f"after.repair@{domain}" in names


def test_consent_cancelled_leaves_the_job_in_quarantine(
    quarantined: Connected, emulator: Emulator, server: Server
) -> None:
    connected = quarantined
    back = _answer_consent(emulator, _consent_link(connected, server), "cancel")
    assert "error=access_denied" in back
    page = httpx.get(back, timeout=60)
    assert page.status_code == 403, page.text
    assert "Consent was not granted" in page.text
    assert "IDS-403-120" in page.text
    assert connected.status()["status"] == "Quarantine"
    code, output = doctor(connected, "--integration", connected.integration_id, "--json")
    assert code == 1
    assert output["findings"][0]["status"] == "open"
    _assert_no_secret(emulator, server, page.text)


def test_a_forged_or_expired_state_changes_nothing(
    quarantined: Connected, emulator: Emulator, server: Server, database: Database
) -> None:
    connected = quarantined
    link = _consent_link(connected, server)
    state = parse_qs(urlsplit(link).query)["state"][0]
    signer = StateSigner(database, Settings.from_env())
    old = signer.sign(connected.org.id, connected.integration_id, now=time.time() - 7200)
    forged = state[:-6] + ("AAAAAA" if not state.endswith("AAAAAA") else "BBBBBB")
    for bad, code in (
        (forged, "IDS-400-120"),
        ("not-a-state", "IDS-400-120"),
        (old, "IDS-400-121"),
    ):
        page = httpx.get(
            f"{server.url}/consent/callback", params={"admin_consent": "True", "state": bad}
        )
        assert page.status_code == 400, page.text
        assert code in page.text
        assert re.search(r'id="tracking-id">IDS_', page.text)
        _assert_no_secret(emulator, server, page.text)
    assert connected.status()["status"] == "Quarantine"


def test_idsync_repair_prints_the_link_and_reports_json(
    quarantined: Connected, server: Server
) -> None:
    result = run_idsync(
        ["repair", quarantined.integration_id, "--no-wait",
         "--database", quarantined.database_url, "--json"],
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    output = json.loads(result.stdout)
    assert output["cause"] == "service_principal_removed"
    assert output["repaired"] is False
    assert output["job_status"] == "Quarantine"
    assert f"redirect_uri={server.url}" in output["consent_url"].replace("%3A", ":").replace(
        "%2F", "/"
    )
    printed = run_idsync(
        ["repair", quarantined.integration_id, "--timeout", "2",
         "--database", quarantined.database_url],
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert printed.returncode == 1
    lines = printed.stdout.splitlines()
    assert any(line.startswith("https://") and "state=" in line for line in lines), lines
    assert "Not repaired yet" in printed.stdout


def _assert_no_secret(emulator: Emulator, server: Server, page: str) -> None:
    secrets = [emulator.info["client_secret"], os.environ["IDSYNC_SECRET_KEY"]]
    log = "\n".join(server.log_lines())
    for secret in secrets:
        assert secret not in page
        assert secret not in log
