"""TLS to a real slapd: LDAPS and StartTLS verify the server against ca_file, or fail with a hint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from idsync.connectors.ldap.source import LdapSource
from idsync.contract.errors import AccessDenied
from idsync.contract.records import ReadStart
from tests.slapd import ADMIN_PASSWORD, SlapdProcess, ldap_settings, running, seed


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SlapdProcess]:
    yield from running(tmp_path, tls=True)


def modes(server: SlapdProcess) -> dict[str, dict[str, object]]:
    return {
        "ldaps": {"url": server.ldaps_url},
        "starttls": {"url": server.url, "start_tls": True},
    }


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_with_the_ca_file_reads(server: SlapdProcess, mode: str) -> None:
    seed(server, users=2)
    settings = ldap_settings(server, ca_file=server.ca_file, **modes(server)[mode])
    with LdapSource(settings) as source:
        health = source.check()
        users = [o for page in source.read("user", ReadStart()) for o in page.objects]
    assert health.ok, health.details
    assert health.details["tls"] == mode
    assert health.details["tls_verify"] is True
    assert "warning" not in health.details
    assert len(users) == 2


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_an_untrusted_certificate_is_refused_with_a_hint(server: SlapdProcess, mode: str) -> None:
    settings = ldap_settings(server, **modes(server)[mode])  # system trust store only
    with LdapSource(settings) as source:
        with pytest.raises(AccessDenied) as caught:
            list(source.read("user", ReadStart()))
        health = source.check()
    error = caught.value
    assert error.error.code == "IDS-502-023"
    assert "not trusted" in error.message
    assert "--ca-file" in error.action
    assert "corp-ldap" in error.message
    assert ADMIN_PASSWORD not in str(error)
    assert not health.ok
    assert health.details["code"] == "IDS-502-023"


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_verify_off_connects_and_says_so_loudly(server: SlapdProcess, mode: str) -> None:
    seed(server, users=1)
    settings = ldap_settings(server, tls_verify=False, **modes(server)[mode])
    with capture_logs() as logs, LdapSource(settings) as source:
        health = source.check()
        users = [o for page in source.read("user", ReadStart()) for o in page.objects]
    assert health.ok, health.details
    assert health.details["tls_verify"] is False
    assert "verification is disabled" in health.details["warning"]
    assert len(users) == 1
    warnings = [entry for entry in logs if entry["event"] == "ldap.tls_verify_disabled"]
    assert warnings
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["integration"] == "corp-ldap"
    assert all(ADMIN_PASSWORD not in repr(entry) for entry in logs)
