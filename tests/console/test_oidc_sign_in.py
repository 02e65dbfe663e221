"""Operators sign in with an OpenID Connect provider: the emulator's Entra sign-in page
(authorization code + PKCE, an RS256 ID token checked against its published keys), in
Chromium; who is not an operator is told so; an answer this browser did not ask for is
refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from idsync.manage import operators, orgs
from idsync.store.database import open_database
from idsync.store.migrate import upgrade
from tests.conftest import Server
from tests.console.conftest import Steps, start_stack, stop_stack
from tests.console.test_incident_in_browser import accessible
from tests.entra_emulator import EmulatorProcess


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, EmulatorProcess]]:
    folder = tmp_path_factory.mktemp("oidc")

    def oidc(emulator: EmulatorProcess) -> dict[str, str]:
        info = emulator.info
        secret = folder / "oidc-secret"
        secret.write_text(info["client_secret"] + "\n")
        return {
            "IDSYNC_OIDC_ISSUER": f"{info['url']}/{info['tenant_id']}/v2.0",
            "IDSYNC_OIDC_CLIENT_ID": info["client_id"],
            "IDSYNC_OIDC_CLIENT_SECRET_FILE": str(secret),
            "IDSYNC_OIDC_NAME": "Microsoft Entra ID",
            "IDSYNC_OIDC_CA_FILE": info["ca_file"],
        }

    stack = start_stack(folder, "/admin/login/oidc/callback", oidc, users=5, groups=1, seed=3)
    yield stack.server, stack.emulator
    stop_stack(stack)


@pytest.fixture
def browser_page(browser: Browser, provider: tuple[Server, EmulatorProcess]) -> Iterator[Page]:
    context = browser.new_context(base_url=provider[0].url, ignore_https_errors=True)
    yield context.new_page()
    context.close()


def sign_in_with_entra(page: Page, emulator: EmulatorProcess) -> None:
    page.goto("/admin/login")
    page.get_by_role("link", name="Sign in with Microsoft Entra ID").click()
    page.get_by_label("Email or phone").fill(emulator.info["admin_upn"])
    page.get_by_label("Password").fill(emulator.info["admin_password"])
    page.get_by_role("button", name="Sign in").click()


def test_an_operator_signs_in_with_entra_and_one_who_is_not_is_told(
    browser_page: Page, provider: tuple[Server, EmulatorProcess]
) -> None:
    server, emulator = provider
    page = browser_page
    steps = Steps("oidc")
    db = open_database(server.database_url)
    upgrade(db)
    org = orgs.create_org(db, f"Tailspin {uuid.uuid4().hex[:6]}", actor="tests").id
    upn = emulator.info["admin_upn"]

    sign_in_with_entra(page, emulator)
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("IDS-403-132")
    expect(notice).to_contain_text(upn)
    expect(notice).to_contain_text("idsync admin create EMAIL --role readonly --no-password")
    accessible(page)
    steps.shot(page, "not-an-operator")

    operators.create_operator(db, upn, None, "readonly", org, actor="tests")
    sign_in_with_entra(page, emulator)
    expect(page).to_have_url(re.compile(f"/admin/orgs/{org}$"))
    expect(page.get_by_text(f"{upn} (readonly)")).to_be_visible()
    steps.shot(page, "signed-in")
    events = [e.activity for e in _audit(db, org) if e.target == upn]
    assert "Sign in with Microsoft Entra ID" in events
    # Without a password, the operator cannot sign in with one.
    with httpx.Client(base_url=server.url) as client:
        refused = client.post("/admin/login", data={"email": upn, "password": "x" * 20})
    assert refused.status_code == 401


def _audit(db: object, org: str) -> list[object]:
    from idsync.manage.audit import list_events

    return list_events(db, org_id=org, limit=100)  # type: ignore[arg-type]


def test_an_answer_this_browser_did_not_ask_for_is_refused(
    provider: tuple[Server, EmulatorProcess],
) -> None:
    server, _ = provider
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        started = client.get("/admin/login/oidc")
        assert started.status_code == 303
        assert "code_challenge_method=S256" in started.headers["location"]
        assert "HttpOnly" in started.headers["set-cookie"]
        # The pending sign-in's cookie, but a state it did not send: a forged answer.
        forged = client.get("/admin/login/oidc/callback", params={"code": "x", "state": "forged"})
        assert forged.status_code == 401
        assert 'data-code="IDS-401-132"' in forged.text
        assert "idsync_session" not in forged.headers.get("set-cookie", "")
    with httpx.Client(base_url=server.url, follow_redirects=False) as stranger:
        answer = stranger.get("/admin/login/oidc/callback", params={"code": "x", "state": "y"})
        assert answer.status_code == 401
        assert "started no sign-in" in answer.text


def test_without_a_provider_the_sign_in_page_offers_none(server: Server) -> None:
    page = httpx.get(f"{server.url}/admin/login").text
    assert "Sign in with" not in page
    assert httpx.get(f"{server.url}/admin/login/oidc").status_code == 404
