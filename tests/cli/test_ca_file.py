"""A CA file that is missing or holds no certificate is named with its path, for every
connector that reads one, instead of a traceback (Entra, SCIM) or ldap3's "invalid CA
public key file" (LDAP)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.commands import run_idsync

KEY = Fernet.generate_key().decode()
OPTIONS = {
    "entra": ["--tenant-id", "t", "--client-id", "c", "--client-secret-file"],
    "scim": ["--url", "https://127.0.0.1:9/scim/v2", "--token-file"],
    "ldap": [
        *("--url", "ldaps://127.0.0.1:9", "--bind-dn", "cn=a", "--user-base", "dc=x"),
        "--password-file",
    ],
}


def idsync(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_idsync(
        [*args, "--database", database],
        text=True,
        timeout=120,
        env={**os.environ, "IDSYNC_SECRET_KEY": KEY, "COLUMNS": "80"},
        check=False,
    )


@pytest.mark.parametrize("kind", sorted(OPTIONS))
@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_an_unusable_ca_file_is_named_not_a_traceback(
    kind: str, content: str | None, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    org = json.loads(idsync(database, "org", "create", "CA", "--json").stdout)["id"]
    secret, ca = tmp_path / "secret", tmp_path / "ca.pem"
    secret.write_text("s3cret-value")
    if content is not None:
        ca.write_text(content)
    added = idsync(
        database, "integration", "add", kind, "--org", org, "--name", "Corp app",
        "--no-auto-sync", *OPTIONS[kind], str(secret), "--ca-file", str(ca),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    result = idsync(database, "sync", "run", "Corp app", "--json")
    said = result.stdout + result.stderr
    assert "Traceback" not in said and "invalid CA public key file" not in said
    assert "IDS-400-033" in said and str(ca) in said
    # By name, or by id where the job recorded it (as every reason a cycle records).
    command = r"idsync integration update ('Corp app'|[0-9a-f-]{36}) --ca-file FILE"
    assert re.search(command, said), said
    assert result.returncode != 0
