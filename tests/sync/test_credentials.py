"""Connector credentials: encrypted at rest, never shown, never logged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import sqlalchemy as sa
from cryptography.fernet import Fernet

from idsync.store.database import Database
from idsync.store.models import AUDIT_EVENTS, INTEGRATIONS
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
