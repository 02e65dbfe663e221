"""Connector credentials: encrypted at rest, never shown, never logged."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

from idsync.store.database import Database
from idsync.store.models import AUDIT_EVENTS, INTEGRATIONS
from tests.conftest import Server, make_org
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
