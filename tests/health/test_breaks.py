"""Each way an administrator can break an Entra integration, reproduced in the emulator
(``POST /_emulator/break``, what ``idsync demo break`` sends), told apart by its evidence."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from idsync.store.database import Database
from tests.conftest import Server, make_org
from tests.health.test_doctor import AUTO_SYNC_OFF, doctor, failed_checks, run_as_printed
from tests.sync.conftest import Connected, Emulator, assert_hub_equals_directory, idsync
from tests.sync.test_source_failures import _grant_admin_consent


def broken(connected: Connected, emulator: Emulator, cause: str) -> dict[str, Any]:
    """The finding after the cause, and a cycle that meets it."""
    assert connected.sync()["status"] == "Active"
    answer = emulator.admin.post("/_emulator/break", json={"cause": cause})
    assert answer.status_code == 200, answer.text
    assert connected.sync()["status"] == "Quarantine"
    code, output = doctor(connected, "--integration", connected.integration_id, "--json")
    assert code == 1
    [finding] = output["findings"]
    assert finding["protected"]["removed_since"] == 0
    return dict(finding)


def test_revoked_consent_is_told_from_a_missing_permission_and_repaired(
    connected: Connected, emulator: Emulator
) -> None:
    finding = broken(connected, emulator, "revoke-consent")
    assert finding["cause"] == "consent_revoked"
    assert finding["evidence"]["roles"] == []
    assert finding["evidence"]["status"] == 403
    consent, restart, _ = finding["repair"]
    assert "/adminconsent?client_id=" in consent["url"]
    _grant_admin_consent(emulator)
    run_as_printed(connected, restart["command"])
    assert connected.sync()["status"] == "Active"
    assert_hub_equals_directory(connected, emulator)


@pytest.mark.parametrize(
    ("cause", "found", "aadsts"),
    [
        ("expire-secret", "client_secret_expired", "AADSTS7000222"),
        ("disable-app", "application_disabled", "AADSTS7000112"),
    ],
)
def test_an_expired_secret_and_a_disabled_application_name_their_codes(
    connected: Connected, emulator: Emulator, cause: str, found: str, aadsts: str
) -> None:
    finding = broken(connected, emulator, cause)
    assert finding["cause"] == found
    assert finding["evidence"]["aadsts"] == [aadsts]
    assert finding["confidence"] == "high"
    assert [step.get("command") for step in finding["repair"][-2:]] == [
        f"idsync sync restart {connected.integration_id} --reset quarantine",
        f"idsync validate {connected.integration_id}",
    ]


def certificate(key_file: Path) -> tuple[str, str]:
    """A new self-signed certificate, its private key written to ``key_file``: (the
    certificate as the app registration takes it, base64 DER; its SHA-1 thumbprint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idsync tests")])
    now = datetime.now(UTC)
    made = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = made.public_bytes(serialization.Encoding.DER)
    thumbprint = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    return base64.b64encode(der).decode(), thumbprint


def upload(emulator: Emulator, *certificates: str) -> None:
    """The tenant administrator's upload (Graph: PATCH the application's keyCredentials)."""
    answer = emulator.admin.patch(
        f"/v1.0/applications(appId='{emulator.info['client_id']}')",
        json={
            "keyCredentials": [
                {"type": "AsymmetricX509Cert", "usage": "Verify", "key": c} for c in certificates
            ]
        },
    )
    assert answer.status_code == 204, answer.text


def test_an_expired_certificate_is_named_and_repaired_with_a_new_one(
    database: Database, server: Server, emulator: Emulator, tmp_path: Path
) -> None:
    old_cert, old_thumbprint = certificate(tmp_path / "old.pem")
    upload(emulator, old_cert)
    org = make_org(database, server)
    info = emulator.info
    added = idsync(
        server.database_url, "integration", "add", "entra", "--org", org.id,
        "--tenant-id", info["tenant_id"], "--client-id", info["client_id"],
        "--certificate-key", str(tmp_path / "old.pem"), "--certificate-thumbprint",
        old_thumbprint, "--authority", info["url"], "--graph-url", info["graph_url"],
        "--ca-file", info["ca_file"], "--no-auto-sync",
    )  # fmt: skip
    scim = httpx.Client(base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"})
    connected = Connected(org, added["id"], server.database_url, scim)

    finding = broken(connected, emulator, "expire-certificate")  # signs in with it first
    assert finding["cause"] == "certificate_expired"
    assert finding["evidence"]["aadsts"] == ["AADSTS700027"]
    assert finding["evidence"]["aadsts_reason"] == "The key used is expired."
    assert finding["evidence"]["thumbprint"] == old_thumbprint
    upload_step, store, restart, validate = finding["repair"]
    assert upload_step["by"] == "tenant administrator"

    new_cert, new_thumbprint = certificate(tmp_path / "new.pem")
    upload(emulator, new_cert)
    filled = store["command"].replace("FILE", str(tmp_path / "new.pem"))
    run_as_printed(connected, filled.replace("THUMBPRINT", new_thumbprint))
    run_as_printed(connected, restart["command"])
    assert connected.sync()["status"] == "Active"
    assert failed_checks(connected, validate["command"]) == AUTO_SYNC_OFF
    assert_hub_equals_directory(connected, emulator)
    scim.close()


def test_a_certificate_the_application_does_not_have_is_rejected_not_expired(
    connected: Connected, emulator: Emulator, tmp_path: Path
) -> None:
    """A key the app registration does not hold: AADSTS700027 with another reason."""
    _, thumbprint = certificate(tmp_path / "stranger.pem")
    assert connected.sync()["status"] == "Active"
    updated = idsync(
        connected.database_url, "integration", "update", connected.integration_id,
        "--certificate-key", str(tmp_path / "stranger.pem"),
        "--certificate-thumbprint", thumbprint,
    )  # fmt: skip
    assert updated is not None
    assert connected.sync()["status"] == "Quarantine"
    code, output = doctor(connected, "--integration", connected.integration_id, "--json")
    [finding] = output["findings"]
    assert code == 1
    assert finding["cause"] == "certificate_rejected"
    assert finding["evidence"]["aadsts_reason"] == "The key was not found."
