"""Diagnosis: a failing integration gets a finding — its cause told apart by evidence,
what idsync protected, and a repair whose commands run as printed."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from idsync.store.database import Database
from tests.commands import run_idsync
from tests.conftest import Server, make_org
from tests.slapd import ADMIN_DN, ADMIN_PASSWORD, PEOPLE, running, seed
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    connect,
    directory_state,
    hub_resources,
    idsync,
    users_already_there,
)
from tests.sync.test_source_failures import _delete_service_principal, _grant_admin_consent


def doctor(connected: Connected, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_idsync(
        ["doctor", "--database", connected.database_url, *extra],
        text=True,
        timeout=60,
        check=False,
    )
    output = json.loads(result.stdout) if "--json" in extra else {"text": result.stdout}
    return result.returncode, output


def run_as_printed(connected: Connected, command: str) -> None:
    """A repair step's command, run exactly as the finding prints it."""
    words = shlex.split(command)
    assert words[0] == "idsync"
    result = run_idsync(
        [*words[1:], "--database", connected.database_url],
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (command, result.stderr)


def failed_checks(connected: Connected, command: str) -> set[str]:
    """The checks a printed ``idsync validate`` command finds failing."""
    words = shlex.split(command)
    assert words[:2] == ["idsync", "validate"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "idsync",
            *words[1:],
            "--database",
            connected.database_url,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    return {check["name"] for check in report["checks"] if not check["passed"]}


# The tests' integrations run no scheduled cycle (the test runs them): auto sync is off.
AUTO_SYNC_OFF = {"auto_sync_on"}


def test_a_removed_service_principal_is_diagnosed_with_evidence_and_repaired(
    connected: Connected, emulator: Emulator
) -> None:
    assert connected.sync()["status"] == "Active"
    users = len(hub_resources(connected.scim, "/Users"))
    assert doctor(connected, "--integration", connected.integration_id, "--json") == (
        0,
        {"findings": []},
    )
    _delete_service_principal(emulator)
    failed = connected.sync()
    assert failed["status"] == "Quarantine"

    code, output = doctor(connected, "--integration", connected.integration_id, "--json")
    assert code == 1
    [finding] = output["findings"]
    assert finding["cause"] == "service_principal_removed"
    assert finding["confidence"] == "high"
    assert finding["tracking_id"] == failed["tracking_id"]
    assert finding["tracking_id"].startswith("IDS_")
    evidence = finding["evidence"]
    assert evidence["code"] == "IDS-502-012"
    assert evidence["aadsts"] == ["AADSTS7000229"]
    assert evidence["endpoint"] == "token"
    assert evidence["client_id"] == emulator.info["client_id"]
    protected = finding["protected"]
    assert protected["removed_since"] == 0
    assert protected["users"] == users
    assert protected["summary"].startswith("no user or group disabled or deleted since ")
    consent, restart, validate = finding["repair"]
    assert consent["by"] == "tenant administrator"
    assert "/adminconsent?client_id=" in consent["url"]
    assert consent["url"] == evidence["consent_url"]
    assert restart["command"] == (
        f"idsync sync restart {connected.integration_id} --reset quarantine"
    )
    assert validate["command"] == f"idsync validate {connected.integration_id}"

    # The same finding, for a person: the repair's link and command on lines of their own.
    code, printed = doctor(connected, "--integration", connected.integration_id)
    assert code == 1
    lines = printed["text"].splitlines()
    assert f"   {consent['url']}" in lines
    assert f"   {restart['command']}" in lines
    assert any(finding["tracking_id"] in line for line in lines)

    _grant_admin_consent(emulator)
    run_as_printed(connected, restart["command"])
    assert connected.sync()["status"] == "Active"
    assert failed_checks(connected, validate["command"]) == AUTO_SYNC_OFF
    assert doctor(connected, "--integration", connected.integration_id, "--json") == (
        0,
        {"findings": []},
    )
    assert_hub_equals_directory(connected, emulator)


def test_a_missing_permission_names_graphs_answer(connected: Connected, emulator: Emulator) -> None:
    connected.sync()
    emulator.fault(path="/v1.0/users/delta", action="status", status=403, count=50)
    assert connected.sync()["status"] == "Quarantine"
    [finding] = doctor(connected, "--integration", connected.integration_id, "--json")[1][
        "findings"
    ]
    assert finding["cause"] == "permission_missing"
    evidence = finding["evidence"]
    assert (evidence["endpoint"], evidence["status"]) == ("graph", 403)
    assert evidence["client_request_id"]
    assert "User.Read.All" in evidence["needs"]


def test_a_wrong_client_secret_is_told_from_a_removed_application(
    database: Database, server: Server, emulator: Emulator, tmp_path: Any
) -> None:
    connected = connect(database, server, emulator)
    secret = tmp_path / "secret"
    secret.write_text("not-the-secret-at-all")
    idsync(
        connected.database_url,
        "integration",
        "update",
        connected.integration_id,
        "--client-secret-file",
        str(secret),
    )
    assert connected.sync()["status"] == "Quarantine"
    code, output = doctor(connected, "--json")
    assert code == 1
    [finding] = [f for f in output["findings"] if f["integration_id"] == connected.integration_id]
    assert finding["cause"] == "client_secret_invalid"
    assert finding["evidence"]["aadsts"] == ["AADSTS7000215"]
    assert "not-the-secret-at-all" not in json.dumps(output)
    commands = [step["command"] for step in finding["repair"] if "command" in step]
    assert commands[0] == (
        f"idsync integration update {connected.integration_id} --client-secret-file FILE"
    )
    connected.scim.close()


def quarantined_ldap_doctor(
    database: Database, server: Server, directory: Any, password: Path, user_base: str
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """An LDAP integration whose first cycle quarantines (its id), and what
    ``doctor --org --json`` then says."""
    seed(directory, users=3)
    org = make_org(database, server)
    url = server.database_url
    added = idsync(
        url, "integration", "add", "ldap", "--org", org.id, "--url", directory.url,
        "--bind-dn", ADMIN_DN, "--password-file", str(password), "--dialect", "openldap",
        "--user-base", user_base, "--no-auto-sync",
    )  # fmt: skip
    assert idsync(url, "sync", "run", added["id"])["status"] == "Quarantine"
    return added["id"], run_idsync(
        ["doctor", "--org", org.id, "--database", url, "--json"],
        text=True,
        timeout=60,
        check=False,
    )


def test_a_refused_ldap_bind_names_the_result_code(
    database: Database, server: Server, tmp_path: Path
) -> None:
    for directory in running(tmp_path):
        password = tmp_path / "password"
        password.write_text("not the password")
        integration_id, result = quarantined_ldap_doctor(
            database, server, directory, password, PEOPLE
        )
        assert result.returncode == 1
        [finding] = json.loads(result.stdout)["findings"]
        assert finding["cause"] == "ldap_bind_failed"
        assert finding["evidence"]["ldap_result"] == 49
        assert finding["evidence"]["ldap_result_name"] == "invalidCredentials"
        assert "not the password" not in result.stdout
        assert finding["repair"][1]["command"] == (
            f"idsync integration update {integration_id} --password-file FILE"
        )


def test_deletions_over_the_threshold_are_diagnosed_and_protected(
    database: Database, server: Server, emulator: Emulator
) -> None:
    connected = connect(database, server, emulator, "--deletion-threshold", "2")
    connected.sync()
    gone = [
        user["externalId"]
        for user in hub_resources(connected.scim, "/Users")
        if user["userName"] != emulator.info["admin_upn"]
    ][:3]
    for user_id in gone:
        assert emulator.admin.delete(f"/v1.0/users/{user_id}").status_code == 204
    assert connected.sync()["status"] == "Quarantine"
    [finding] = doctor(connected, "--integration", connected.integration_id, "--json")[1][
        "findings"
    ]
    assert finding["cause"] == "deletion_threshold_exceeded"
    assert finding["protected"]["staged_removals"] == 3
    assert finding["protected"]["removed_since"] == 0
    assert [step.get("command") for step in finding["repair"]] == [
        f"idsync sync logs {connected.integration_id} --action stagedDelete",
        f"idsync sync approve-deletes {connected.integration_id}",
        f"idsync validate {connected.integration_id}",
    ]
    for step in finding["repair"][:2]:
        run_as_printed(connected, step["command"])
    assert doctor(connected, "--integration", connected.integration_id, "--json")[0] == 1
    assert connected.sync()["status"] == "Active"
    assert doctor(connected, "--integration", connected.integration_id, "--json") == (
        0,
        {"findings": []},
    )
    assert failed_checks(connected, finding["repair"][2]["command"]) == AUTO_SYNC_OFF
    connected.scim.close()


def test_a_base_dn_that_is_gone_is_named_with_its_fix(
    database: Database, server: Server, tmp_path: Path
) -> None:
    for directory in running(tmp_path):
        password = tmp_path / "password"
        password.write_text(ADMIN_PASSWORD)
        gone = PEOPLE.replace("ou=", "ou=gone", 1)
        _, result = quarantined_ldap_doctor(database, server, directory, password, gone)
        [finding] = json.loads(result.stdout)["findings"]
        assert finding["cause"] == "ldap_base_missing"
        assert gone in finding["repair"][0]["text"]
        assert ADMIN_PASSWORD not in result.stdout


def test_objects_that_clash_with_objects_already_there_are_diagnosed_and_adopted(
    connected: Connected, emulator: Emulator
) -> None:
    """Too many objects failed (IDS-409-012): the cause is what most of them failed with
    — here users created over SCIM before the integration, with the directory's ids."""
    users, _ = directory_state(emulator)
    early = users_already_there(connected, sorted(users)[:25], "early")
    assert connected.sync()["reason_code"] == "IDS-409-012"

    code, output = doctor(connected, "--integration", connected.integration_id, "--json")
    assert code == 1
    [finding] = output["findings"]
    assert finding["cause"] == "uniqueness_conflicts"
    assert finding["evidence"]["failures_by_code"] == {"IDS-409-001": 25}
    examples = finding["evidence"]["examples"]
    assert len(examples) == 3
    assert all(e["tracking_id"].startswith("IDS_") and e["reason"] for e in examples)
    look, adopt, restart, validate = finding["repair"]
    run_as_printed(connected, look["command"])
    run_as_printed(connected, adopt["command"])
    # Not the same people (other userNames): the ones already there go, as step 2 says.
    for user_id in early:
        assert connected.scim.delete(f"/Users/{user_id}").status_code == 204
    run_as_printed(connected, restart["command"])
    assert connected.sync()["status"] == "Active"
    assert failed_checks(connected, validate["command"]) == AUTO_SYNC_OFF
    assert_hub_equals_directory(connected, emulator)
