"""The hub side of the incident: a directory provisioning into idsync with a token the
hub no longer accepts is diagnosed from the audit log's counted refusals — which
token, how many refusals since when, from which address — and the finding's repair,
run as printed, ends it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from idsync.config import Settings
from idsync.manage import health, tokens
from idsync.store.database import Database
from tests.commands import run_idsync
from tests.conftest import Server, make_org
from tests.health.test_alerts import WEBHOOK_SECRET, Receiver, receiver, verify

__all__ = ["receiver"]  # the webhook receiver fixture

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}


def idsync(server: Server, *words: str) -> subprocess.CompletedProcess[str]:
    return run_idsync(
        [*words, "--database", server.database_url],
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )


def doctor_json(server: Server, org_id: str) -> tuple[int, list[dict[str, Any]]]:
    result = idsync(server, "doctor", "--org", org_id, "--json")
    return result.returncode, json.loads(result.stdout)["findings"]


def refused(scim_url: str, secret: str, times: int) -> list[str]:
    """Send ``times`` requests the hub refuses (waiting out its one-second token cache
    first); the tracking IDs the client was told."""
    seen: list[str] = []
    deadline = time.monotonic() + 10
    with httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=10) as client:
        while len(seen) < times and time.monotonic() < deadline:
            response = client.get(f"{scim_url}/Users")
            if response.status_code == 401:
                seen.append(response.headers["x-tracking-id"])
            else:
                time.sleep(0.2)
    assert len(seen) == times
    return seen


def test_a_directory_refused_for_a_revoked_token_is_diagnosed_and_repaired(
    database: Database, server: Server
) -> None:
    org = make_org(database, server)
    issued = tokens.issue(database, org.id, "Entra ID provisioning", actor="tests")
    created = httpx.post(
        f"{org.scim_url}/Users",
        json=USER,
        headers={"Authorization": f"Bearer {issued.secret}"},
        timeout=10,
    )
    assert created.status_code == 201
    tokens.revoke(database, issued.record.id, actor="tests")
    told = refused(org.scim_url, issued.secret, 3)

    code, findings = doctor_json(server, org.id)
    assert code == 1
    [finding] = findings
    assert finding["cause"] == "hub_token_revoked"
    assert finding["integration_id"] is None
    assert finding["token_id"] == issued.record.id
    assert finding["tracking_id"] in told
    evidence = finding["evidence"]
    assert evidence["code"] == "IDS-401-001"
    assert evidence["token_name"] == "Entra ID provisioning"
    assert evidence["prefix"] == issued.record.prefix
    assert evidence["revoked"]
    assert evidence["rejections"] == 3
    assert evidence["sources"] == ["127.0.0.1"]
    assert finding["protected"]["users"] == 1
    assert "changed nothing" in finding["protected"]["summary"]

    # The tracking ID the directory was told finds the refused request and its finding.
    bundle = json.loads(idsync(server, "debug-info", told[0], "--json").stdout)
    assert bundle["operation"]["kind"] == "refused request"
    assert bundle["operation"]["source"] == "127.0.0.1"
    assert bundle["hub_token"]["id"] == issued.record.id
    assert (bundle["status"], bundle["status_text"]) == ("IDS-401-001", "token revoked")
    assert bundle["finding"]["cause"] == "hub_token_revoked"
    assert issued.secret not in json.dumps(bundle)

    text = idsync(server, "doctor", "--org", org.id)
    assert text.returncode == 1
    assert issued.record.id in text.stdout and "hub_token_revoked" in text.stdout
    commands = {f"   {step['command']}" for step in finding["repair"] if "command" in step}
    assert all(len(line) <= 80 or line in commands for line in text.stdout.splitlines())

    create, _paste, check = finding["repair"]
    made = idsync(server, *shlex.split(create["command"])[1:], "--json")
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["token"]
    accepted = httpx.get(
        f"{org.scim_url}/Users", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    assert accepted.status_code == 200
    assert accepted.json()["totalResults"] == 1

    assert idsync(server, *shlex.split(check["command"])[1:]).returncode == 0
    assert doctor_json(server, org.id) == (0, [])


def test_a_directory_refused_for_an_expired_token_is_told_from_a_revoked_one(
    database: Database, server: Server
) -> None:
    org = make_org(database, server)
    issued = tokens.issue(
        database, org.id, "Okta", actor="tests", expires_in=timedelta(milliseconds=500)
    )
    time.sleep(0.6)
    refused(org.scim_url, issued.secret, 2)

    code, [finding] = doctor_json(server, org.id)
    assert code == 1
    assert finding["cause"] == "hub_token_expired"
    assert finding["evidence"]["code"] == "IDS-401-004"
    assert finding["evidence"]["expired"]
    assert finding["evidence"]["rejections"] == 2


def test_an_unknown_token_is_not_taken_for_a_directory_of_the_org(
    database: Database, server: Server
) -> None:
    """Refusals of secrets the hub never issued name no org: they are counted, not
    attributed (hub/rejections.py stores nothing of them)."""
    org = make_org(database, server)
    refused(org.scim_url, "idsync_not-a-token-the-hub-issued", 2)
    assert doctor_json(server, org.id) == (0, [])


def test_the_org_is_alerted_once_when_a_directory_is_refused(
    database: Database, server: Server, receiver: Receiver, tmp_path: Path
) -> None:
    """The mirror of the quarantine alert: the org's webhook hears of a directory refused
    for a revoked token, once a day, with the finding's cause, tracking ID and repair."""
    org = make_org(database, server)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(WEBHOOK_SECRET)
    configured = idsync(
        server, "org", "alerts", org.id, "--webhook-url", receiver.url,
        "--webhook-secret-file", str(secret_file),
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr
    issued = tokens.issue(database, org.id, "Entra ID provisioning", actor="tests")
    tokens.revoke(database, issued.record.id, actor="tests")
    told = refused(org.scim_url, issued.secret, 2)

    deadline = time.monotonic() + 20
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    [(headers, body)] = receiver.requests
    assert verify(headers, body) and headers["X-Idsync-Event"] == "refused"
    alert = json.loads(body)
    assert alert["cause"] == "hub_token_revoked"
    assert alert["tracking_id"] in told
    assert alert["org_id"] == org.id and alert["integration_id"] == ""
    assert alert["details"] == f"idsync doctor --org {org.id}"
    assert alert["link"].startswith("idsync token create --org")
    assert issued.secret not in body.decode()

    # The next window's first refusal does not alert again within the day.
    health.after_refusal(database, Settings.from_env(), issued.record).join(timeout=20)
    time.sleep(0.5)
    assert len(receiver.requests) == 1
