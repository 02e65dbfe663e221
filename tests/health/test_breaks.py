"""Each way an administrator can break an Entra integration, reproduced in the emulator
(``POST /_emulator/break``, what ``idsync demo break`` sends), told apart by its evidence."""

from __future__ import annotations

from typing import Any

import pytest

from tests.health.test_doctor import doctor, run_as_printed
from tests.sync.conftest import Connected, Emulator, assert_hub_equals_directory
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
