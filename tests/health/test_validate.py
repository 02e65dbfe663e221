"""``idsync validate``: after a good sync every check passes; a removed enterprise
application, a user not yet synced and a file changed since the import each fail the
checks that should fail, with evidence naming the cause. Real parts throughout: the
Entra emulator, a private database (SQLite and PostgreSQL), the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from idsync.manage import orgs
from idsync.manage.validation import CHECKS
from tests.commands import run_idsync
from tests.conftest import PrivateDatabase
from tests.entra_emulator import EmulatorProcess, start_emulator
from tests.sync.conftest import add_entra, idsync

# Every command of these tests shares one credentials key (no key file in the checkout).
KEY = os.environ.setdefault("IDSYNC_SECRET_KEY", Fernet.generate_key().decode())


@dataclass
class Validated:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return dict(json.loads(self.stdout))

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {check["name"]: check for check in self.report["checks"]}

    def failed(self) -> set[str]:
        return {name for name, check in self.checks.items() if not check["passed"]}


@dataclass
class Hub:
    database_url: str
    org_id: str
    integration_id: str = ""

    def validate(self, *extra: str, columns: int = 80) -> Validated:
        command = ["validate", self.integration_id, *extra, "--database", self.database_url]
        result = run_idsync(
            command,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": str(columns), "IDSYNC_SECRET_KEY": KEY},
            check=False,
        )
        return Validated(result.returncode, result.stdout, result.stderr)

    def sync(self) -> dict[str, Any]:
        return dict(idsync(self.database_url, "sync", "run", self.integration_id))


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    handle = start_emulator(tmp_path / "emulator.log", EmulatorProcess, users=12, groups=3, seed=11)
    yield handle
    handle.stop()


@pytest.fixture
def hub(private_database: PrivateDatabase) -> Hub:
    """An organisation in a database of its own: no scheduler of another test runs the
    jobs these tests leave on auto sync."""
    org = orgs.create_org(private_database.db, f"Org {uuid.uuid4().hex[:8]}", actor="tests")
    return Hub(private_database.url, org.id)


@pytest.fixture
def entra(hub: Hub, emulator: EmulatorProcess) -> Hub:
    """An Entra integration (auto sync on, enabled users only) after its first cycle."""
    hub.integration_id = add_entra(hub.database_url, hub.org_id, emulator, "--enabled-only")
    assert hub.sync()["status"] == "Active"
    return hub


def _service_principal_id(emulator: EmulatorProcess) -> str:
    app_filter = f"appId eq '{emulator.info['client_id']}'"
    return str(emulator.all("/v1.0/servicePrincipals", **{"$filter": app_filter})[0]["id"])


def _add_user(emulator: EmulatorProcess) -> str:
    tag = uuid.uuid4().hex[:6]
    user = emulator.write(
        "POST",
        "/v1.0/users",
        {
            "accountEnabled": True,
            "displayName": f"Late Joiner {tag}",
            "mailNickname": f"late{tag}",
            "userPrincipalName": f"late.joiner.{tag}@contoso.example",
            "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"},
        },
    ).json()
    return str(user["id"])


def test_after_a_good_sync_every_check_passes(entra: Hub, emulator: EmulatorProcess) -> None:
    validated = entra.validate("--json")
    assert validated.code == 0, validated.stderr
    report = validated.report
    assert report["healthy"] is True
    assert set(report) == {"healthy", "checks"}
    assert [c["name"] for c in report["checks"]] == list(CHECKS)
    assert validated.failed() == set()
    checks = validated.checks
    principal = checks["service_principal_present"]["evidence"]
    assert principal["service_principal_id"] == _service_principal_id(emulator)
    assert principal["roles_missing"] == []
    assert set(principal["roles_needed"]) <= set(principal["roles_granted"])
    assert checks["target_accepts"]["evidence"]["org"] == entra.org_id
    assert checks["last_cycle_succeeded"]["evidence"]["finished_at"].endswith("Z")
    counts = checks["counts_agree"]["evidence"]
    assert counts["user"]["source"] == counts["user"]["target"] > 0
    assert counts["group"]["source"] == counts["group"]["target"] == 3
    assert emulator.info["client_secret"] not in validated.stdout


def test_a_removed_service_principal_fails_the_checks_it_breaks(
    entra: Hub, emulator: EmulatorProcess
) -> None:
    emulator.write("DELETE", f"/v1.0/servicePrincipals/{_service_principal_id(emulator)}")
    assert entra.sync()["status"] == "Quarantine"

    validated = entra.validate("--json")
    assert validated.code == 1, validated.stderr
    assert validated.report["healthy"] is False
    assert validated.failed() == {
        "credentials_accepted",
        "service_principal_present",
        "job_active",
        "last_cycle_succeeded",
        "counts_agree",
    }
    checks = validated.checks
    for name in ("credentials_accepted", "service_principal_present"):
        evidence = checks[name]["evidence"]
        assert evidence["code"] == "IDS-502-012", evidence
        assert "no service principal" in evidence["message"]
        assert "adminconsent?client_id=" in evidence["action"]
    assert checks["job_active"]["evidence"]["status"] == "Quarantine"
    assert checks["job_active"]["evidence"]["reason_code"] == "IDS-502-012"
    cycle = checks["last_cycle_succeeded"]["evidence"]
    assert (cycle["status"], cycle["error_code"]) == ("quarantined", "IDS-502-012")
    assert "credentials" in checks["counts_agree"]["evidence"]["skipped"]
    assert checks["target_accepts"]["passed"] and checks["auto_sync_on"]["passed"]
    assert emulator.info["client_secret"] not in validated.stdout + validated.stderr

    readable = entra.validate()
    assert readable.code == 1
    assert "✗ service_principal_present  IDS-502-012, as above" in readable.stdout
    # What to do, once, on a line of its own: the consent link stays whole.
    assert readable.stdout.count("To do (IDS-502-012):") == 1
    assert "/adminconsent?client_id=" + emulator.info["client_id"] in readable.stdout


def test_a_user_not_yet_synced_is_listed(entra: Hub, emulator: EmulatorProcess) -> None:
    newcomer = _add_user(emulator)
    validated = entra.validate("--json")
    assert validated.code == 1
    assert validated.failed() == {"counts_agree"}
    users = validated.checks["counts_agree"]["evidence"]["user"]
    assert users["only_in_source"] == [newcomer]
    assert users["only_in_target"] == []
    assert users["source"] == users["target"] + 1

    entra.sync()
    assert entra.validate().code == 0


def test_the_checklist_fits_80_columns_with_ids_whole(
    entra: Hub, emulator: EmulatorProcess
) -> None:
    newcomer = _add_user(emulator)
    validated = entra.validate(columns=80)
    assert validated.code == 1
    lines = validated.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    cycle_id = entra.validate("--json").checks["last_cycle_succeeded"]["evidence"]["cycle_id"]
    for whole in (entra.integration_id, entra.org_id, _service_principal_id(emulator)):
        assert whole in validated.stdout
    assert cycle_id in validated.stdout and newcomer in validated.stdout
    marks = {line[2:].split()[0]: line[0] for line in lines if line[:1] in "✓✗"}
    assert marks == {name: "✓" for name in CHECKS} | {"counts_agree": "✗"}
    assert lines[-1] == "Not healthy: 1 of 7 checks failed."


USERS = """id,userName,displayName,department
u1,ann@example.org,Ann,Sales
u2,bob@example.org,Bob,Sales
u3,cat@example.org,Cat,Legal
"""


def test_a_file_integration_in_scope_then_changed(hub: Hub, tmp_path: Path) -> None:
    users, scoping = tmp_path / "users.csv", tmp_path / "scoping.json"
    users.write_text(USERS)
    rule = {"attribute": "department", "operator": "EQUALS", "value": "Sales"}
    scoping.write_text(json.dumps({"user": [rule]}))
    added = idsync(
        hub.database_url, "integration", "add", "file", "--org", hub.org_id,
        "--users", str(users), "--scoping", str(scoping), "--auto-sync",
    )  # fmt: skip
    hub.integration_id = added["id"]
    assert hub.sync()["status"] == "Active"

    validated = hub.validate("--json")
    assert (validated.code, validated.failed()) == (0, set())
    assert "service_principal_present" not in validated.checks  # Entra only
    counts = validated.checks["counts_agree"]["evidence"]["user"]
    assert (counts["source"], counts["target"], counts["out_of_scope"]) == (2, 2, 1)

    users.write_text(USERS.replace("u2,bob@example.org,Bob,Sales\n", ""))
    validated = hub.validate("--json")
    assert (validated.code, validated.failed()) == (1, {"counts_agree"})
    assert validated.checks["counts_agree"]["evidence"]["user"]["only_in_target"] == ["u2"]


def test_an_unknown_integration_is_one_error_line(hub: Hub) -> None:
    hub.integration_id = "no-such-integration"
    validated = hub.validate("--json")
    assert (validated.code, validated.stdout) == (1, "")
    assert validated.stderr.startswith("error IDS-404-010: ")
