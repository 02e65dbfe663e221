"""An organisation's full administrator manages its operators in the console: adds one,
who then signs in with its role; sets a new password (which ends their sessions);
removes them. Nobody else may, and nobody manages another org's operators here."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Browser, Page, expect

from idsync.manage import operators, orgs
from idsync.store.database import open_database
from idsync.store.migrate import upgrade
from tests.console.conftest import PASSWORD, Stack, Steps, idsync_admin
from tests.console.test_incident_in_browser import accessible, sign_in
from tests.console.test_pages import section
from tests.console.test_security import code_of, csrf_of, signed_in

NEW_PASSWORD = "another long passphrase"


def test_a_full_administrator_adds_resets_and_removes_an_operator(
    page: Page, browser: Browser, stack: Stack
) -> None:
    db = open_database(stack.database_url)
    upgrade(db)
    org = orgs.create_org(db, f"Proseware {uuid.uuid4().hex[:6]}", actor="tests").id
    idsync_admin(stack.database_url, "max@proseware.example", "full", org)
    steps = Steps("operators")

    sign_in(page, "max@proseware.example")
    section(page, "Operators")
    page.get_by_label("E-mail").fill("ria@proseware.example")
    page.get_by_label("Role").select_option("users")
    page.get_by_label("Password (empty").fill(PASSWORD)
    page.get_by_role("button", name="Add operator").click()
    row = page.get_by_role("row", name=re.compile("ria@proseware.example"))
    expect(row).to_contain_text("users")
    accessible(page)
    steps.shot(page, "added")

    other = browser.new_context(base_url=stack.server.url).new_page()
    sign_in(other, "ria@proseware.example")
    expect(other.get_by_text("ria@proseware.example (users)")).to_be_visible()

    page.get_by_label("New password for ria@proseware.example").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    other.reload()  # the new password ended the session
    expect(other).to_have_url(re.compile("/admin/login"))
    sign_in(other, "ria@proseware.example", NEW_PASSWORD)
    expect(other.get_by_text("ria@proseware.example (users)")).to_be_visible()

    page.get_by_role("button", name="Remove ria@proseware.example").click()
    expect(page.get_by_role("row", name=re.compile("ria@proseware.example"))).to_have_count(0)
    # Removed: the session ends with the operator.
    other.reload()
    expect(other).to_have_url(re.compile("/admin/login"))
    steps.shot(page, "removed")
    events = {e.activity for e in _audit(db, org)}
    assert {"Create operator", "Reset operator password", "Remove operator"} <= events


def _audit(db: object, org: str) -> list[object]:
    from idsync.manage.audit import list_events

    return list_events(db, org_id=org, limit=200)  # type: ignore[arg-type]


def test_only_an_orgs_full_administrator_manages_its_operators(stack: Stack) -> None:
    db = open_database(stack.database_url)
    upgrade(db)
    org_a = orgs.create_org(db, f"A {uuid.uuid4().hex[:6]}", actor="tests").id
    org_b = orgs.create_org(db, f"B {uuid.uuid4().hex[:6]}", actor="tests").id
    for email, role, org in (
        ("users@a.example", "users", org_a),
        ("full@a.example", "full", org_a),
        ("full@b.example", "full", org_b),
    ):
        operators.create_operator(db, email, PASSWORD, role, org, actor="tests")

    user_admin = signed_in(stack.server, "users@a.example")
    added = user_admin.post(
        f"/admin/orgs/{org_a}/operators",
        data={"csrf_token": csrf_of(user_admin, org_a), "do": "create",
              "email": "sneaky@a.example", "role": "full", "password": PASSWORD},
    )  # fmt: skip
    assert (added.status_code, code_of(added)) == (403, "IDS-403-130")

    full_a = signed_in(stack.server, "full@a.example")
    csrf = csrf_of(full_a, org_a)
    theirs = full_a.post(
        f"/admin/orgs/{org_a}/operators",
        data={"csrf_token": csrf, "do": "remove", "email": "full@b.example"},
    )
    assert (theirs.status_code, code_of(theirs)) == (404, "IDS-404-130")
    into_b = full_a.post(
        f"/admin/orgs/{org_b}/operators",
        data={"csrf_token": csrf, "do": "create", "email": "x@b.example", "role": "full"},
    )
    assert (into_b.status_code, code_of(into_b)) == (404, "IDS-404-002")
    assert {o.email for o in operators.list_operators(db, org_b)} == {"full@b.example"}
    with httpx.Client(base_url=stack.server.url) as anonymous:
        answer = anonymous.get(f"/admin/orgs/{org_a}/operators")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/login")
