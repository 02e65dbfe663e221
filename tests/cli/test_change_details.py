"""Every update says what it changes, old → new: in ``sync run --preview``, in
``sync logs`` and in their ``--json``; secret values never; long values shortened in an
80-column terminal and whole in ``--json``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.commands import run_idsync

KEY = Fernet.generate_key().decode()
LONG_TITLE = "Principal " + "very " * 60 + "long title"
SECRETS = ("first-Secret-4711", "second-Secret-0815")
USERS = """id,userName,displayName,title,employeeId,manager
ann-4f1c2a9e-7b1d-4c55-9a3e-0d6f2b8c1e77,ann@example.org,Ann,Engineer,{secret},
bob-0b9d3c1e-2f4a-4e6b-8c7d-1a2b3c4d5e6f,bob@example.org,Bob,{title},,
"""


def idsync(database: str, *args: str) -> str:
    result = run_idsync(
        [*args, "--database", database],
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", "IDSYNC_SECRET_KEY": KEY},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fits(output: str) -> None:
    wide = [line for line in output.splitlines() if len(line) > 80]
    assert not wide, wide


def _no_secret(output: str) -> None:
    for secret in SECRETS:
        assert secret not in output


@pytest.fixture
def changed(tmp_path: Path) -> tuple[str, str]:
    """A file integration synced once, whose file then changed: Ann's title and her
    password (mapped from employeeId: a secret), Bob's title to a very long one."""
    database = f"sqlite:///{tmp_path / 'changes.db'}"
    org = json.loads(idsync(database, "org", "create", "Contoso", "--json"))["id"]
    users, mappings = tmp_path / "users.csv", tmp_path / "mappings.json"
    users.write_text(USERS.format(secret=SECRETS[0], title="Sales"))
    mappings.write_text(json.dumps({"user": [
        {"target": "password", "source": "employeeId"},
        {"target": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},
    ]}))  # fmt: skip
    added = json.loads(
        idsync(database, "integration", "add", "file", "--org", org, "--name", "HR",
               "--users", str(users), "--mappings", str(mappings), "--json")
    )  # fmt: skip
    idsync(database, "sync", "run", added["id"], "--json")
    changed = USERS.format(secret=SECRETS[1], title=LONG_TITLE).replace("Engineer", "Manager")
    users.write_text(changed)
    return database, added["id"]


def _changes(entries: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {c["attribute"]: c for e in entries for c in e[key]}


def test_a_preview_shows_each_change_old_to_new(changed: tuple[str, str]) -> None:
    database, integration = changed
    text = idsync(database, "sync", "run", integration, "--preview", "--full")
    _fits(text)
    _no_secret(text)
    assert 'title: "Engineer" → "Manager"' in text
    assert "ann-4f1c2a9e-7b1d-4c55-9a3e-0d6f2b8c1e77" in text, "ids are whole"
    assert 'password: "(secret)" → "(secret)"' in text
    assert 'title: "Sales" → "Principal very' in text and "…" in text

    report = json.loads(
        idsync(database, "sync", "run", integration, "--preview", "--full", "--json")
    )
    _no_secret(json.dumps(report))
    updates = [p for p in report["preview"] if p["action"] == "update"]
    assert report["update"] == len(updates) == 2
    changes = _changes(updates, "changes")
    assert changes["title"]["new"] in ("Manager", LONG_TITLE)
    assert {c["new"] for e in updates for c in e["changes"] if c["attribute"] == "title"} == {
        "Manager",
        LONG_TITLE,
    }, "whole in --json"
    assert changes["password"]["old"] == changes["password"]["new"] == "(secret)"


def test_the_provisioning_log_shows_each_change_old_to_new(changed: tuple[str, str]) -> None:
    database, integration = changed
    assert json.loads(idsync(database, "sync", "run", integration, "--json"))["update"] == 2
    text = idsync(database, "sync", "logs", integration, "--action", "update")
    _fits(text)
    _no_secret(text)
    assert 'title: "Engineer" → "Manager"' in text
    assert "ann-4f1c2a9e-7b1d-4c55-9a3e-0d6f2b8c1e77" in text

    entries = json.loads(
        idsync(database, "sync", "logs", integration, "--action", "update", "--json")
    )
    _no_secret(json.dumps(entries))
    titles = {
        c["new"] for e in entries for c in e["changes"]["changes"] if c["attribute"] == "title"
    }
    assert titles == {"Manager", LONG_TITLE}
