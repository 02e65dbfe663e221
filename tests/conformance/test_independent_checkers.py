"""The independent SCIM conformance checkers, run against a live ``idsync serve``, must find nothing.

* ``scim test`` (PyPI scim2-cli, built on scim2-tester): every check must be SUCCESS.
* ``scim-sanity probe`` in its default strict mode: no FAIL and no ERROR. (It skips its
  Agent/AgenticApplication phases for servers, like this one, that do not serve those types.)

Both run once on a plain organisation and once on one with a custom extension
schema declared, which the checkers discover from /Schemas and exercise too.
That schema avoids two things scim2-tester 0.5.2 itself gets wrong: it fills
dateTime attributes with UUID strings (its own model refuses them before any
request is sent), and it expects ``add`` on a multi-valued extension attribute
to replace the values, where RFC 7644 §3.5.2.1 says the new value is added to
them (which is what idsync does; tests/api/test_discovery.py pins it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from idsync.manage import orgs
from idsync.store.database import Database
from tests.api.test_discovery import BADGE_SCHEMA
from tests.conftest import Org, Server, make_org

pytestmark = pytest.mark.conformance


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    assert Path(found).exists(), f"{name} is not installed (pip install -e '.[test]')"
    return found


@pytest.fixture(params=["plain", "custom-extension"])
def checked_org(request: pytest.FixtureRequest, database: Database, server: Server) -> Org:
    org = make_org(database, server)
    if request.param == "custom-extension":
        schema = {
            **BADGE_SCHEMA,
            "attributes": [
                {"name": "badgeNumber", "type": "string", "caseExact": True},
                {"name": "level", "type": "integer"},
                {"name": "escort", "type": "boolean"},
                {
                    "name": "access",
                    "type": "complex",
                    "subAttributes": [
                        {"name": "zone", "type": "string"},
                        {"name": "since", "type": "integer"},
                    ],
                },
            ],
        }
        orgs.add_schema(database, org.id, "User", schema, required=False, actor="tests")
    return org


def test_scim2_tester_finds_no_failure(checked_org: Org) -> None:
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {checked_org.token}"}
    result = subprocess.run(
        [tool("scim"), "--url", checked_org.scim_url, "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = result.stdout.splitlines()
    statuses = [line.split()[0] for line in lines if re.match(r"^[A-Z]+ \w", line)]
    failures = [line for line in lines if re.match(r"^(?!SUCCESS)[A-Z]+ \w", line)]
    assert result.returncode == 0, (
        _failures_with_reasons(lines) or result.stdout[-3000:] + result.stderr[-3000:]
    )
    assert failures == []
    assert statuses.count("SUCCESS") >= 120, result.stdout[-2000:]


def test_scim_sanity_probe_finds_no_failure(checked_org: Org) -> None:
    result = subprocess.run(
        [
            tool("scim-sanity"),
            "probe",
            checked_org.scim_url,
            "--token",
            checked_org.token,
            "--i-accept-side-effects",
            "--json-output",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    results = report["results"] if isinstance(report, dict) and "results" in report else report
    flat = _flatten(results)
    bad = [r for r in flat if r.get("status", "").lower() in ("fail", "error")]
    assert result.returncode == 0, bad or result.stdout[-3000:]
    assert bad == []
    passed = [r for r in flat if r.get("status", "").lower() == "pass"]
    assert len(passed) >= 25
    skipped = {r.get("name") for r in flat if r.get("status", "").lower() == "skip"}
    assert skipped <= {
        "Agent CRUD Lifecycle",
        "AgenticApplication CRUD Lifecycle",
        "Agent Rapid Lifecycle",
    }


def _flatten(node: object) -> list[dict]:
    if isinstance(node, dict):
        if "status" in node and "name" in node:
            return [node]
        return [item for value in node.values() for item in _flatten(value)]
    if isinstance(node, list):
        return [item for value in node for item in _flatten(value)]
    return []


def _failures_with_reasons(lines: list[str]) -> str:
    """Each non-SUCCESS line with the indented reason lines that follow it."""
    report: list[str] = []
    keep = False
    for line in lines:
        if re.match(r"^[A-Z]+ \w", line):
            keep = not line.startswith("SUCCESS")
        if keep:
            report.append(line)
    return "\n".join(report)
