"""``idsync debug-info``: one failure's bundle by its tracking ID, with every secret redacted."""

from __future__ import annotations

import json
import os
from typing import Any

from idsync.store import integrations as jobs
from idsync.store.database import Database
from tests.commands import run_idsync
from tests.sync.conftest import Connected, Emulator
from tests.sync.test_source_failures import _delete_service_principal


def debug_info(connected: Connected, tracking_id: str, *extra: str) -> tuple[int, str]:
    result = run_idsync(
        [
            "debug-info", tracking_id,
            "--database", connected.database_url, *extra,
        ],
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def quarantined(connected: Connected, emulator: Emulator) -> dict[str, Any]:
    assert connected.sync()["status"] == "Active"
    _delete_service_principal(emulator)
    report = connected.sync()
    assert report["status"] == "Quarantine"
    return report


def test_a_quarantined_cycles_bundle_names_what_support_needs(
    connected: Connected, emulator: Emulator
) -> None:
    report = quarantined(connected, emulator)
    code, output = debug_info(connected, report["tracking_id"], "--json")
    assert code == 0, output
    bundle = json.loads(output)
    assert bundle["tracking_id"] == report["tracking_id"]
    assert bundle["org"]["id"] == connected.org.id
    assert bundle["integration"]["id"] == connected.integration_id
    assert bundle["integration"]["kind"] == "entra"
    assert bundle["job"]["status"] == "Quarantine"
    assert bundle["operation"]["kind"] == "cycle"
    assert bundle["operation"]["cycle_id"] == report["cycle_id"]
    assert bundle["operation"]["evidence"]["aadsts"] == ["AADSTS7000229"]
    assert (bundle["status"], bundle["status_text"]) == (
        "IDS-502-012",
        "enterprise application removed",
    )
    assert bundle["finding"]["cause"] == "service_principal_removed"
    assert bundle["time"].endswith("Z")
    assert {"idsync", "python", "database"} <= bundle["versions"].keys()
    assert emulator.info["client_secret"] not in output

    code, printed = debug_info(connected, report["tracking_id"])
    assert code == 0
    assert report["tracking_id"] in printed
    assert "IDS-502-012 enterprise application removed" in printed


def test_no_secret_reaches_the_bundle(
    connected: Connected, emulator: Emulator, database: Database
) -> None:
    report = quarantined(connected, emulator)
    secret = emulator.info["client_secret"]
    # Text from elsewhere that carries secrets: a reason echoing the client secret, a
    # password field, a bearer token, a URL's password.
    leaky = (
        f"upstream said {secret}; password=hunter2hunter2 "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig ldap://cn:s3cretpass@dc"
    )
    with database.read() as conn:
        kept = jobs.get_job(conn, connected.integration_id)
    with database.write() as conn:
        jobs.update_job(
            conn,
            connected.integration_id,
            reason=leaky,
            evidence={"client_secret": secret, "message": leaky},
        )
    try:
        code, output = debug_info(connected, report["tracking_id"], "--json")
    finally:  # the database is shared: other tests list every integration's job
        with database.write() as conn:
            jobs.update_job(
                conn, connected.integration_id, reason=kept.reason, evidence=kept.evidence
            )
    assert code == 0, output
    for exposed in (secret, "hunter2hunter2", "eyJhbGciOiJIUzI1NiJ9", "s3cretpass"):
        assert exposed not in output
    bundle = json.loads(output)
    assert bundle["job"]["evidence"]["client_secret"] == "<redacted>"
    assert "<redacted>" in bundle["job"]["reason"]


def test_an_unknown_tracking_id_is_a_catalogued_error(connected: Connected) -> None:
    code, output = debug_info(connected, "IDS_00000000-0000-4000-8000-000000000000")
    assert code == 1
    assert "IDS-404-011" in output
    assert "Traceback" not in output


def test_an_administrators_job_action_has_a_tracking_id_of_its_own(
    connected: Connected, emulator: Emulator
) -> None:
    """Restart and pause are job status changes: each gets a new tracking ID, on the job,
    in the audit log and in its log line, and debug info finds the action by it."""
    report = quarantined(connected, emulator)
    restarted = run_idsync(
        [
            "sync", "restart", connected.integration_id,
            "--reset", "quarantine", "--database", connected.database_url, "--json",
        ],
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "IDSYNC_LOG_LEVEL": "info"},
    )  # fmt: skip
    tracking_id = json.loads(restarted.stdout)["tracking_id"]
    assert tracking_id.startswith("IDS_") and tracking_id != report["tracking_id"]
    assert connected.status()["tracking_id"] == tracking_id
    assert any(
        json.loads(line).get("tracking_id") == tracking_id
        for line in restarted.stderr.splitlines()
        if line.startswith("{")
    ), restarted.stderr

    code, output = debug_info(connected, tracking_id, "--json")
    assert code == 0, output
    bundle = json.loads(output)
    assert bundle["operation"]["kind"] == "administrator action"
    assert bundle["operation"]["activity"] == "Restart sync job"
    assert bundle["operation"]["actor"] == "cli"
    assert bundle["operation"]["details"] == {"reset": ["quarantine"]}
    assert bundle["integration"]["id"] == connected.integration_id
    assert bundle["job"]["status"] == "Active"

    # The failing cycle's own ID still finds the cycle and its finding.
    code, output = debug_info(connected, report["tracking_id"], "--json")
    assert json.loads(output)["operation"]["kind"] == "cycle"
