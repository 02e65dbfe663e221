"""``integration show`` and ``integration list`` as a person reads them in an 80-column
terminal: ids whole, times ISO 8601 UTC, yes/no, JSON, and long text below the table."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.commands import run_idsync

ISO_UTC = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\b")
REPRS = ("datetime", "True", "False", "None", "{'")

# The credentials key of these commands (no key file is written into the checkout).
KEY = Fernet.generate_key().decode()


def idsync(database: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = run_idsync(
        [*args, "--database", database],
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", "IDSYNC_SECRET_KEY": KEY},
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def hub(tmp_path: Path) -> tuple[str, list[str], list[str]]:
    """Two organisations; a file integration with a long name whose file is missing (its
    job has a long reason), and an LDAP one with list settings and scoping."""
    database = f"sqlite:///{tmp_path / 'output.db'}"
    orgs = [
        json.loads(idsync(database, "org", "create", name, "--json").stdout)["id"]
        for name in ("Contoso", "Fabrikam")
    ]
    password = tmp_path / "password"
    password.write_text("pw-Secret-1")
    scoping = tmp_path / "scoping.json"
    scoping.write_text(json.dumps({"user": [{"attribute": "department", "operator": "EQUALS", "value": "Sales and Marketing, EMEA"}]}))  # fmt: skip
    added = [
        idsync(
            database, "integration", "add", "file", "--org", orgs[0],
            "--name", "Human resources export of the whole company, every night",
            "--users", str(tmp_path / "missing" / "users.csv"), "--json",
        ),
        idsync(
            database, "integration", "add", "ldap", "--org", orgs[1], "--name", "Corp AD",
            "--url", "ldaps://dc1.corp.example.org:636", "--password-file", str(password),
            "--bind-dn", "CN=svc-idsync,OU=Service Accounts,DC=corp,DC=example,DC=org",
            "--user-base", "OU=Staff,OU=Europe,DC=corp,DC=example,DC=org",
            "--user-base", "OU=Contractors,OU=Europe,DC=corp,DC=example,DC=org",
            "--scoping", str(scoping), "--no-auto-sync", "--json",
        ),
    ]  # fmt: skip
    ids = [json.loads(result.stdout)["id"] for result in added]
    failed = json.loads(idsync(database, "sync", "run", ids[0], "--json", check=False).stdout)
    assert failed["reason_code"] == "IDS-503-040"
    return database, orgs, ids


def assert_fits(output: str) -> None:
    """Every line fits, but a long value's own line below the table (after ``name:``),
    which the terminal wraps: a path or command in it stays whole when copied."""
    lines = output.splitlines()
    for number, line in enumerate(lines):
        below = number > 0 and re.fullmatch(r"[a-z -]+:", lines[number - 1])
        assert below or len(line) <= 80, line


def test_integration_show_fits_80_columns_with_whole_ids_and_the_reason_below(
    hub: tuple[str, list[str], list[str]],
) -> None:
    database, orgs, ids = hub
    output = idsync(database, "integration", "show", ids[0]).stdout
    assert_fits(output)
    lines = output.splitlines()
    assert any(line.split()[-1:] == [ids[0]] for line in lines), output
    assert any(line.split()[-1:] == [orgs[0]] for line in lines), output
    for word in REPRS:
        assert word not in output
    assert len(ISO_UTC.findall(output)) >= 2  # created, updated
    assert re.search(r"^auto-sync +no$", output, re.M)
    # The reason is long: it is printed whole, below, not wrapped in a cell.
    reason = json.loads(idsync(database, "sync", "status", ids[0], "--json").stdout)["reason"]
    assert len(reason) > 80
    assert f"\nreason:\n{reason}\n" in output


def test_integration_show_prints_lists_and_rules_as_json(
    hub: tuple[str, list[str], list[str]],
) -> None:
    database = hub[0]
    output = idsync(database, "integration", "show", "Corp AD").stdout
    assert_fits(output)
    assert '"OU=Staff,OU=Europe,DC=corp,DC=example,DC=org"' in output
    scoping = json.loads(output.split("\nscoping:\n", 1)[1].splitlines()[0])
    assert scoping["user"][0]["value"] == "Sales and Marketing, EMEA"
    assert "pw-Secret-1" not in output
    assert re.search(r"^credentials +stored \(encrypted\)$", output, re.M)
    assert re.search(r"^next run +only when asked$", output, re.M)


def test_integration_list_fits_80_columns_with_whole_ids(
    hub: tuple[str, list[str], list[str]],
) -> None:
    database, orgs, ids = hub
    output = idsync(database, "integration", "list").stdout
    assert_fits(output)
    words = output.split()
    for whole in (*ids, *orgs):
        assert whole in words, output
    for word in REPRS:
        assert word not in output
    only = idsync(database, "integration", "list", "--org", orgs[1]).stdout
    assert ids[1] in only.split() and ids[0] not in only
