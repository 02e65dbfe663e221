"""Connector credentials: encrypted at rest, never shown, never logged."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from idsync.store.database import Database
from idsync.store.models import AUDIT_EVENTS, INTEGRATIONS
from tests.conftest import Server, _postgres_schema, make_org
from tests.sync.conftest import Connected, Emulator, idsync


def test_client_secret_is_encrypted_and_never_shown(
    connected: Connected, emulator: Emulator, database: Database
) -> None:
    secret = emulator.info["client_secret"]
    connected.sync()
    for command in (
        ("integration", "show", connected.integration_id),
        ("integration", "list"),
        ("sync", "status", connected.integration_id),
        ("sync", "logs", connected.integration_id, "--limit", "1000"),
    ):
        assert secret not in json.dumps(idsync(connected.database_url, *command))
    with database.read() as conn:
        row = conn.execute(
            sa.select(INTEGRATIONS.c.secrets, INTEGRATIONS.c.settings).where(
                INTEGRATIONS.c.id == connected.integration_id
            )
        ).one()
        audit = conn.execute(sa.select(AUDIT_EVENTS.c.details)).scalars().all()
    assert row.secrets and secret not in row.secrets
    assert secret not in json.dumps(row.settings)
    assert secret not in json.dumps(audit)


def test_a_wrong_key_is_a_clear_error(connected: Connected) -> None:
    env = {**os.environ, "IDSYNC_SECRET_KEY": Fernet.generate_key().decode()}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "idsync",
            "sync",
            "run",
            connected.integration_id,
            "--database",
            connected.database_url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error IDS-500-010"), result.stderr
    assert "Traceback" not in result.stderr


# --- where the key file is -------------------------------------------------------------


def run(
    cwd: Path, *args: str, check: bool = True, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """``idsync …`` from ``cwd``, configured only by ``env`` (no key in the environment)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IDSYNC_SECRET_KEY")}
    result = subprocess.run(
        [sys.executable, "-m", "idsync", *args], input=stdin,
        cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr
    return result


def add_entra(cwd: Path, database_url: str, emulator_info: dict[str, Any], **env: str) -> str:
    """A new org with an Entra integration (its client secret sealed); the integration's id."""
    org = json.loads(
        run(cwd, "org", "create", "Contoso", "--database", database_url, "--json").stdout
    )
    added = run(
        cwd, "integration", "add", "entra", "--org", org["id"], "--no-auto-sync",
        "--tenant-id", emulator_info["tenant_id"], "--client-id", emulator_info["client_id"],
        "--client-secret-file", "-", "--authority", emulator_info["url"],
        "--graph-url", emulator_info["graph_url"], "--ca-file", emulator_info["ca_file"],
        "--database", database_url, "--json", stdin=emulator_info["client_secret"], **env,
    )  # fmt: skip
    return str(json.loads(added.stdout)["id"])


# An emulator that is never called: adding an integration does not contact the tenant.
OFFLINE = {
    "tenant_id": "5d5c0b4e-4f57-4c6a-9d2b-7f4f8a1c0e11",
    "client_id": "0b7e3f0e-2a44-4a38-9f7e-3a1f5f4f9c22",
    "client_secret": "never-used-secret-value",
    "url": "https://127.0.0.1:9",
    "graph_url": "https://127.0.0.1:9",
    "ca_file": __file__,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that holds no credentials yet."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        yield f"sqlite:///{tmp_path / 'data' / 'hub.db'}"
        return
    yield from _postgres_schema()


def test_the_key_file_is_kept_with_the_database_never_in_the_current_folder(
    fresh_database: str, tmp_path: Path
) -> None:
    work, config = tmp_path / "checkout", tmp_path / "config"
    work.mkdir()
    add_entra(work, fresh_database, OFFLINE, XDG_CONFIG_HOME=str(config))
    if fresh_database.startswith("sqlite"):
        key = tmp_path / "data" / "hub.key"  # beside data/hub.db
    else:
        key = config / "idsync" / "idsync.key"  # $XDG_CONFIG_HOME/idsync/
    assert key.is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert list(work.iterdir()) == []


def test_a_missing_key_is_never_replaced_by_a_new_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    key = tmp_path / "hub.key"
    integration = add_entra(tmp_path, url, OFFLINE, IDSYNC_SECRET_KEY_FILE=str(key))
    key.rename(tmp_path / "elsewhere.key")
    elsewhere = tmp_path / "other-folder"
    elsewhere.mkdir()
    for command in (
        ("sync", "run", integration),
        ("integration", "update", integration, "--client-secret-file", "-"),
    ):
        result = run(
            elsewhere, *command, "--database", url, check=False, stdin="another-secret",
            IDSYNC_SECRET_KEY_FILE=str(key),
        )  # fmt: skip
        assert result.returncode == 1
        assert result.stderr.strip().startswith("error IDS-500-110: "), result.stderr
        assert str(key) in result.stderr and "IDSYNC_SECRET_KEY_FILE" in result.stderr
        assert not key.exists()
    (tmp_path / "elsewhere.key").rename(key)
    run(
        elsewhere, "integration", "update", integration, "--client-secret-file", "-",
        "--database", url, stdin="another-secret", IDSYNC_SECRET_KEY_FILE=str(key),
    )  # fmt: skip


def test_a_key_in_the_old_place_still_opens_the_credentials_and_says_how_to_move_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    checkout, data = tmp_path / "checkout", tmp_path / "data"
    checkout.mkdir()
    data.mkdir()
    url = f"sqlite:///{data / 'hub.db'}"
    # As idsync 0.1 did, run from the checkout: the key went to ./idsync.key.
    old_key = checkout / "idsync.key"
    integration = add_entra(checkout, url, emulator.info, IDSYNC_SECRET_KEY_FILE=str(old_key))

    result = run(checkout, "sync", "run", integration, "--database", url, "--json")
    assert json.loads(result.stdout)["status"] == "Active"
    warning = next(json.loads(line) for line in result.stderr.splitlines() if "cp -p" in line)
    assert warning["key_file"] == str(old_key)
    assert warning["expected"] == str(data / "hub.key")

    subprocess.run(warning["command"], shell=True, check=True)  # noqa: S602 - as printed
    result = run(tmp_path, "sync", "run", integration, "--database", url, "--json")
    assert json.loads(result.stdout)["status"] == "Active"
    assert result.stderr == ""


def _run(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "idsync", *args, "--database", database_url],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_client_secret_is_read_from_standard_input_never_from_the_command_line(
    database: Database, server: Server, emulator: Emulator
) -> None:
    info = emulator.info
    secret = info["client_secret"]
    org = make_org(database, server)
    options = (
        "--org", org.id, "--tenant-id", info["tenant_id"], "--client-id", info["client_id"],
        "--authority", info["url"], "--graph-url", info["graph_url"],
        "--ca-file", info["ca_file"], "--no-auto-sync", "--json",
    )  # fmt: skip
    # On the command line, other users of the machine would read it in the process list.
    refused = _run(
        server.database_url, "integration", "add", "entra", *options, "--client-secret", secret
    )
    assert refused.returncode != 0 and "--client-secret-file" in refused.stderr
    assert secret not in refused.stdout + refused.stderr
    added = _run(
        server.database_url, "integration", "add", "entra", *options,
        "--client-secret-file", "-", stdin=secret + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    integration = json.loads(added.stdout)["id"]
    report = idsync(server.database_url, "sync", "run", integration)
    assert report["status"] == "Active", (report["reason_code"], report["reason"])


def test_the_advice_for_a_rejected_client_secret_repairs_the_integration_as_printed(
    connected: Connected, emulator: Emulator, tmp_path: Path
) -> None:
    """IDS-502-013 says how to store a new secret and restart: done exactly as printed.
    The commands name the integration by id: the session's database holds many
    integrations named "Entra ID" (one per organisation), as a multi-tenant hub does."""
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret")
    url = connected.database_url
    idsync(
        url, "integration", "update", connected.integration_id, "--client-secret-file", str(wrong)
    )
    report = connected.sync()
    assert (report["status"], report["reason_code"]) == ("Quarantine", "IDS-502-013")
    advice = re.findall(
        r"idsync (integration update .*? FILE|sync restart .*? quarantine)", report["reason"]
    )
    assert len(advice) == 2, report["reason"]
    secret = tmp_path / "secret"
    secret.write_text(emulator.info["client_secret"])
    for command in advice:
        args = shlex.split(command.replace("FILE", shlex.quote(str(secret))))
        assert connected.integration_id in args
        done = _run(url, *args)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    report = connected.sync()
    assert report["status"] == "Active", (report["reason_code"], report["reason"])
