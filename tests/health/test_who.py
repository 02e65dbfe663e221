"""Who did it, before consent is granted again: ``idsync doctor --sign-in`` signs the
administrator in (authorization code with PKCE, through msal, against the emulator's
sign-in page) and adds the directory audit event to the finding."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from typing import Any

import httpx

from tests.health.test_doctor import doctor
from tests.sync.conftest import Connected, Emulator
from tests.sync.test_source_failures import _delete_service_principal


def start_sign_in(connected: Connected, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "idsync", "doctor", "--integration", connected.integration_id,
            "--sign-in", "--database", connected.database_url, "--json", *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def sign_in_link(process: subprocess.Popen[str]) -> str:
    """The link printed on stderr (stdout is kept for the JSON)."""
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if line.strip().startswith("https://"):
            return line.strip()
        assert line, "doctor --sign-in ended before printing a link"
    raise AssertionError("no sign-in link within a minute")


def fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}


def sign_in_as_browser(emulator: Emulator, link: str, password: str) -> httpx.Response:
    """What the administrator's browser does: open the link, submit name and password,
    and (once signed in) post the code back to the loopback address msal listens on."""
    with httpx.Client(verify=emulator.tls, timeout=30) as browser:
        page = browser.get(link)
        assert page.status_code == 200 and "Sign in" in page.text, page.text
        action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)[1])
        answer = browser.post(
            f"{emulator.info['url']}{action}",
            data={
                "request": fields(page.text)["request"],
                "login": emulator.info["admin_upn"],
                "passwd": password,
            },
        )
        back = re.search(r'<form method="post" action="(http://localhost:\d+[^"]*)"', answer.text)
        if back is None:
            return answer  # the sign-in page again, with the error
        # Browsers try localhost's addresses in turn; msal listens on 127.0.0.1.
        receiver = html.unescape(back[1]).replace("//localhost:", "//127.0.0.1:")
        return httpx.post(receiver, data=fields(answer.text), timeout=30)


def test_sign_in_names_who_removed_the_service_principal_before_consent(
    connected: Connected, emulator: Emulator
) -> None:
    assert connected.sync()["status"] == "Active"
    _delete_service_principal(emulator)
    assert connected.sync()["status"] == "Quarantine"
    _, before = doctor(connected, "--integration", connected.integration_id, "--json")
    [finding] = before["findings"]
    assert finding["evidence"]["actor"] is None
    assert "--sign-in" in finding["evidence"]["who"]

    process = start_sign_in(connected)
    try:
        link = sign_in_link(process)
        assert "/oauth2/v2.0/authorize?" in link and "code_challenge=" in link
        refused = sign_in_as_browser(emulator, link, "not the password")
        assert "AADSTS50126" in refused.text
        assert sign_in_as_browser(emulator, link, emulator.info["admin_password"]).is_success
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, err  # the finding is still open: consent is not back
    [completed] = json.loads(out)["findings"]
    evidence: dict[str, Any] = completed["evidence"]
    assert evidence["activity"] == "Remove service principal"
    assert evidence["actor"] == emulator.info["admin_upn"]
    assert evidence["time"].endswith("Z")
    assert evidence["category"] == "ApplicationManagement"
    assert evidence["read_by"] == "administrator sign-in"
    assert evidence["who"] is None
    assert completed["tracking_id"] == finding["tracking_id"]
    assert connected.status()["status"] == "Quarantine"  # nothing else changed
    assert "eyJ" not in out + err  # no token printed


def test_a_sign_in_that_never_comes_is_a_catalogued_error(
    connected: Connected, emulator: Emulator
) -> None:
    assert connected.sync()["status"] == "Active"
    _delete_service_principal(emulator)
    connected.sync()
    process = start_sign_in(connected, "--timeout", "2")
    sign_in_link(process)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "IDS-401-120" in err and "did not succeed" in err and "--sign-in" in err
    _, after = doctor(connected, "--integration", connected.integration_id, "--json")
    assert after["findings"][0]["evidence"]["actor"] is None
