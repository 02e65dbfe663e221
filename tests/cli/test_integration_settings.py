"""Every setting of every connector can be given at ``integration add`` and changed with
``integration update``: the flags come from the connector's description, so these tests
walk the description (a setting added without a working flag fails here)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from idsync.connectors import registry
from idsync.connectors.description import Setting
from idsync.manage.integrations import JOB_OPTIONS, default_options
from tests.commands import run_idsync

# What each kind is added with before its settings are changed one by one: valid, and
# different from every setting's example (which the updates then set).
ADDED_WITH: dict[str, list[str]] = {
    "entra": ["--tenant-id", "first-tenant", "--client-id", "first-app"],
    "ldap": [
        "--url",
        "ldap://ldap.example.org",
        "--bind-dn",
        "cn=first,dc=example,dc=org",
        "--user-base",
        "ou=first,dc=example,dc=org",
    ],
    "scim": ["--url", "https://first.example.com/scim/v2"],
    "file": ["--users", "/srv/first/users.csv"],
}
# Credentials an integration of the kind cannot be added without.
CREDENTIALS: dict[str, str] = {
    "entra": "--client-secret-file",
    "ldap": "--password-file",
    "scim": "--token-file",
}
# Settings whose example is valid only apart from the other examples: range retrieval is
# AD's, and the dialect's example (away from the default, ad) is openldap.
APART: dict[str, set[str]] = {"ldap": {"range_size"}}

# The credentials key of these commands (no key file is written into the checkout).
KEY = Fernet.generate_key().decode()


def idsync(database: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = run_idsync(
        [*args, "--database", database],
        text=True,
        timeout=120,
        env={**os.environ, "IDSYNC_SECRET_KEY": KEY},
        check=False,
    )
    if check:
        assert result.returncode == 0, f"idsync {' '.join(args)}:\n{result.stderr}"
    return result


@pytest.fixture
def hub(tmp_path: Path) -> tuple[str, str, Path]:
    database = f"sqlite:///{tmp_path / 'settings.db'}"
    org = json.loads(idsync(database, "org", "create", "Settings", "--json").stdout)["id"]
    return database, org, tmp_path


def default_of(kind: str, item: Setting) -> Any:
    """A setting's default for a new integration of ``kind`` (job options vary by kind)."""
    if item in JOB_OPTIONS:
        return default_options(kind, registry.connector(kind).directions[0])[item.name]
    return item.default


def value_args(kind: str, item: Setting, folder: Path) -> list[str]:
    """The flag and its value that set ``item`` away from its default (to its example)."""
    if item.kind == "boolean":
        return [str(item.off_flag) if default_of(kind, item) else item.flag]
    assert item.example, f"{item.flag} has no example"
    if item.file or item.kind == "json_file":
        path = folder / item.name
        path.write_text(item.example)
        return [item.flag, str(path)]
    return [item.flag, item.example]


def stored(kind: str, item: Setting) -> Any:
    """What the value :func:`value_args` gives is stored as."""
    if item.kind == "boolean":
        return not default_of(kind, item)
    if item.kind == "json_file":
        return json.loads(str(item.example))
    return item.parse([item.example] if item.repeatable else item.example)


def credential(kind: str, folder: Path) -> list[str]:
    if kind not in CREDENTIALS:
        return []
    path = folder / "first-secret"
    path.write_text("first-secret-value")
    return [CREDENTIALS[kind], str(path)]


def cases(kind: str) -> list[list[Setting]]:
    """The settings of a kind, grouped as they must be given together (a certificate's
    key and thumbprint), optional ones first; the file kind also walks the job options."""
    groups: dict[str, list[Setting]] = {}
    every = [*registry.connector(kind).settings, *(JOB_OPTIONS if kind == "file" else ())]
    for item in every:
        groups.setdefault(item.key, []).append(item)
    return sorted(groups.values(), key=lambda group: group[0].required)


@pytest.mark.parametrize("kind", registry.KINDS)
def test_every_setting_can_be_changed_with_integration_update(
    kind: str, hub: tuple[str, str, Path]
) -> None:
    database, org, folder = hub
    added = idsync(
        database, "integration", "add", kind, "--org", org, "--name", "walked",
        *ADDED_WITH[kind], *credential(kind, folder), "--json",
    )  # fmt: skip
    assert json.loads(added.stdout)["settings"] == _added_settings(kind)
    previous: list[Setting] = []
    for group in cases(kind):
        args = [a for item in group for a in value_args(kind, item, folder)]
        # Each setting is set alone: the one set before goes back to its default.
        unset = [a for p in previous if not (p.required or p.secret) for a in ("--unset", p.name)]
        result = idsync(database, "integration", "update", "walked", *args, *unset, "--json")
        shown = json.loads(result.stdout)
        for item in group:
            if item.secret:
                assert f"credentials.{item.name}" in shown["changed"]
                assert item.example not in result.stdout  # never shown
            elif item in JOB_OPTIONS:
                assert shown[item.name] == stored(kind, item), item.flag
                assert item.name in shown["changed"]
            else:
                assert shown["settings"][item.key] == stored(kind, item), item.flag
                assert f"settings.{item.key}" in shown["changed"]
        for item in previous:
            if not (item.required or item.secret or item in JOB_OPTIONS):
                assert item.key not in shown["settings"], f"--unset {item.name}"
        previous = group


def _added_settings(kind: str) -> dict[str, Any]:
    described = registry.connector(kind)
    args = ADDED_WITH[kind]
    values: dict[str, Any] = {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        item = next(s for s in described.settings if s.flag == flag)
        values[item.name] = item.parse([value] if item.repeatable else value)
    return values


@pytest.mark.parametrize("kind", registry.KINDS)
def test_every_setting_can_be_given_at_integration_add(
    kind: str, hub: tuple[str, str, Path]
) -> None:
    """All of a kind's settings in one ``add`` (alternatives, such as Entra's secret and
    certificate, in a second one); a boolean is given its non-default form where the
    examples allow it together."""
    database, org, folder = hub
    described = registry.connector(kind)
    batches: list[list[Setting]] = [[], []]
    for item in described.settings:
        clash = item.name in APART.get(kind, set())
        clash = clash or any(other.key in item.excludes for other in batches[0])
        batches[1 if clash else 0].append(item)
    for number, batch in enumerate(b for b in batches if b):
        given = [*batch, *(s for s in described.settings if s.required and s not in batch)]
        args = [a for item in given for a in _add_args(kind, item, folder)]
        name = f"added {number}"
        result = idsync(
            database, "integration", "add", kind, "--org", org, "--name", name, *args, "--json"
        )
        shown = json.loads(result.stdout)
        assert shown["credentials"] == ("stored (encrypted)" if described.needs_secrets else "none")
        for item in given:
            if not item.secret and item.kind != "boolean":
                assert shown["settings"][item.key] == stored(kind, item), item.flag


def _add_args(kind: str, item: Setting, folder: Path) -> list[str]:
    if item.kind != "boolean":
        return value_args(kind, item, folder)
    # Both forms of each boolean flag exist at add; the default form keeps the examples
    # of the other settings valid together (StartTLS over ldaps://, a CA file with
    # verification off are refused).
    return [item.flag if item.default else str(item.off_flag)]


def test_update_checks_the_merged_settings_and_refuses_with_the_catalogue_error(
    hub: tuple[str, str, Path],
) -> None:
    database, org, folder = hub
    password = folder / "password"
    password.write_text("first-Secret-1")
    idsync(
        database, "integration", "add", "ldap", "--org", org, "--name", "Corp AD",
        "--url", "ldaps://dc1.example.org", "--bind-dn", "cn=a,dc=example,dc=org",
        "--password-file", str(password), "--user-base", "ou=people,dc=example,dc=org",
    )  # fmt: skip
    before = json.loads(idsync(database, "integration", "show", "Corp AD", "--json").stdout)
    for refused in (
        ["--deletions", "sometimes"],  # the connector's own check
        ["--start-tls"],  # valid alone, not with the stored ldaps:// URL
        ["--tenant-id", "t"],  # another kind's setting
        ["--unset", "url"],  # required: no default to go back to
        ["--unset", "no-such-setting"],
        ["--page-size", "many"],
        ["--disabled", "{not json"],
    ):
        result = idsync(database, "integration", "update", "Corp AD", *refused, check=False)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, (refused, result.stderr)
        assert lines[0].startswith("error IDS-400-031: "), lines[0]
    after = json.loads(idsync(database, "integration", "show", "Corp AD", "--json").stdout)
    assert after == before
    # The default, given: nothing changes (and nothing is read again).
    same = idsync(database, "integration", "update", "Corp AD", "--dialect", "ad", "--json")
    assert json.loads(same.stdout)["changed"] == []

    new = folder / "new-password"
    new.write_text("second-Secret-2")
    idsync(
        database,
        "integration",
        "update",
        "Corp AD",
        "--password-file",
        str(new),
        "--dialect",
        "openldap",
    )
    events = json.loads(
        idsync(
            database, "audit", "list", "--org", org, "--activity", "Update integration", "--json"
        ).stdout
    )
    assert [e["details"] for e in events] == [
        {"changed": ["settings.dialect", "credentials.password"], "full_read_next": True}
    ]
    assert "second-Secret-2" not in json.dumps(events)
