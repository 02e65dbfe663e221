"""The hub side of the incident from the console: a directory keeps presenting a token an
administrator revoked; the console says so, and a new token, made and shown once there,
lets the directory in again."""

from __future__ import annotations

import time
import uuid

import httpx
from playwright.sync_api import Page, expect

from idsync.manage import orgs
from idsync.store.database import open_database
from idsync.store.migrate import upgrade
from tests.console.conftest import Stack, Steps, idsync_admin
from tests.console.test_incident_in_browser import accessible, sign_in
from tests.console.test_pages import section

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}


def provision(stack: Stack, org: str, token: str, name: str) -> int:
    """What the directory does: create a user over SCIM with the token it holds."""
    answer = httpx.post(
        f"{stack.server.url}/scim/{org}/v2/Users",
        json={**USER, "userName": name},
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.status_code


def refused_within(stack: Stack, org: str, token: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if provision(stack, org, token, f"try-{uuid.uuid4().hex[:8]}@litware.example") == 401:
            return True
        time.sleep(0.3)
    return False


def test_a_revoked_token_is_seen_and_replaced_in_the_console(page: Page, stack: Stack) -> None:
    db = open_database(stack.database_url)
    upgrade(db)
    org = orgs.create_org(db, f"Litware {uuid.uuid4().hex[:6]}", actor="tests").id
    idsync_admin(stack.database_url, "lee@litware.example", "full", org)
    steps = Steps("tokens")

    sign_in(page, "lee@litware.example")
    section(page, "SCIM tokens")
    page.get_by_label("Name").fill("Entra ID provisioning")
    page.get_by_role("button", name="Create token").click()
    first = page.locator("#new-token").inner_text()
    assert first.startswith("idsync_")
    accessible(page)
    steps.shot(page, "created")
    assert provision(stack, org, first, "ada@litware.example") == 201
    page.reload()  # shown once: a second look does not show it, nor makes another token
    expect(page.locator("#new-token")).to_have_count(0)
    assert first not in page.content()
    expect(page.get_by_role("row", name="Entra ID provisioning")).to_have_count(1)

    page.get_by_role("button", name="Revoke Entra ID provisioning").click()
    expect(page.get_by_role("row", name="Entra ID provisioning")).to_contain_text("revoked")
    # An API process trusts a token it verified for IDSYNC_TOKEN_CACHE_SECONDS (1 s).
    assert refused_within(stack, org, first, seconds=5)
    section(page, "SCIM tokens")
    refused = page.get_by_role("region", name="A directory is being refused")
    expect(refused).to_contain_text("Entra ID provisioning")
    accessible(page)
    steps.shot(page, "refused")

    page.get_by_label("Name").fill("Entra ID provisioning (new)")
    page.get_by_role("button", name="Create token").click()
    second = page.locator("#new-token").inner_text()
    assert provision(stack, org, second, "bob@litware.example") == 201
    section(page, "SCIM tokens")
    expect(page.get_by_role("region", name="A directory is being refused")).to_have_count(0)
    steps.shot(page, "replaced")
