"""Every console page in Chromium, light and dark, checked with axe-core; users and groups
found, paged and shown; logs filtered and exported; sign-in errors and sign-out."""

from __future__ import annotations

import csv
import io
import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from idsync.manage import orgs, tokens
from idsync.store.database import open_database
from idsync.store.migrate import upgrade
from tests.console.conftest import Stack, Steps, idsync_admin
from tests.console.test_incident_in_browser import accessible, sign_in

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USERS = 120


@pytest.fixture(scope="module")
def people(stack: Stack) -> dict[str, str]:
    """An org with 120 users (an enterprise extension attribute each) and two groups, made
    over its SCIM API, and its full operator."""
    db = open_database(stack.database_url)
    upgrade(db)
    org = orgs.create_org(db, f"Fabrikam {uuid.uuid4().hex[:6]}", actor="tests").id
    token = tokens.issue(db, org, "tests", actor="tests").secret
    scim = httpx.Client(
        base_url=f"{stack.server.url}/scim/{org}/v2",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    ids = []
    for n in range(USERS):
        made = scim.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "userName": f"user-{n:03d}@fabrikam.example",
                "displayName": f"User {n:03d}",
                "externalId": f"ext-{n:03d}",
                ENTERPRISE: {"department": "Finance" if n % 2 else "Sales"},
            },
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    for name, members in (("Finance", ids[1::2]), ("Everyone", ids)):
        group = scim.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": [{"value": i} for i in members],
            },
        )
        assert group.status_code == 201, group.text
    scim.close()
    email = f"fay-{uuid.uuid4().hex[:6]}@fabrikam.example"
    idsync_admin(stack.database_url, email, "full", org)
    return {"org": org, "email": email, "first_user": ids[0]}


def section(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Sections").get_by_role("link", name=name).click()


def test_users_are_searched_paged_and_shown_with_extension_attributes(
    page: Page, people: dict[str, str]
) -> None:
    steps = Steps("users")
    sign_in(page, people["email"])
    section(page, "Users")
    expect(page.get_by_text(f"{USERS} users, 50 on this page")).to_be_visible()
    accessible(page)
    steps.shot(page, "users")
    first_page = page.locator("tbody tr").all_inner_texts()
    page.get_by_role("link", name="Next page").click()
    second_page = page.locator("tbody tr").all_inner_texts()
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text(f"{USERS} users, 20 on this page")).to_be_visible()
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    third_page = page.locator("tbody tr").all_inner_texts()
    # Every user once, across the pages; and back again.
    names = [row.split()[0] for row in first_page + second_page + third_page]
    assert sorted(names) == [f"user-{n:03d}@fabrikam.example" for n in range(USERS)]
    page.get_by_role("link", name="Previous page").click()
    assert page.locator("tbody tr").all_inner_texts() == second_page
    page.get_by_label("Search users (name starts with)").fill("user-07")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("10 users.")).to_be_visible()
    steps.shot(page, "search")
    page.get_by_role("link", name="user-071@fabrikam.example").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("user-071@fabrikam.example")
    expect(page.get_by_role("row", name=re.compile(f"{ENTERPRISE}.department"))).to_contain_text(
        "Finance"
    )
    expect(page.get_by_role("link", name="Finance")).to_be_visible()
    expect(page.get_by_text("created by hand or over SCIM")).to_be_visible()
    accessible(page)
    steps.shot(page, "user")
    page.get_by_role("link", name="Everyone").click()
    expect(page.get_by_text(f"{USERS} direct members, the first 100 shown")).to_be_visible()
    accessible(page)
    steps.shot(page, "group")
    section(page, "Groups")
    expect(page.get_by_text("2 groups")).to_be_visible()
    accessible(page)


def test_logs_are_filtered_and_exported(page: Page, people: dict[str, str]) -> None:
    steps = Steps("logs")
    sign_in(page, people["email"])
    section(page, "Logs")
    accessible(page)
    page.get_by_label("Category").fill("Security")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("Security")
    assert all("Security" in text for text in rows.all_inner_texts())
    steps.shot(page, "audit-security")
    href = page.get_by_role("link", name="CSV").get_attribute("href")
    assert href is not None
    exported = page.request.get(page.url.split("?")[0] + href)
    assert exported.ok
    assert "attachment" in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text())))
    assert table
    assert {row["category"] for row in table} == {"Security"}
    assert any(row["activity"] == "Create operator" for row in table)
    as_json = page.request.get(page.url.split("?")[0] + href.replace("format=csv", "format=json"))
    assert {row["category"] for row in as_json.json()} == {"Security"}
    page.get_by_role("link", name="Provisioning log").click()
    accessible(page)
    steps.shot(page, "provisioning")


def test_every_page_is_accessible_in_dark_mode_too(page: Page, people: dict[str, str]) -> None:
    page.emulate_media(color_scheme="dark")
    sign_in(page, people["email"])
    base = f"/admin/orgs/{people['org']}"
    for path in (
        base,
        f"{base}/users",
        f"{base}/users/{people['first_user']}",
        f"{base}/groups",
        f"{base}/sync",
        f"{base}/integrations/new?kind=ldap",
        f"{base}/integrations/new?kind=scim",
        f"{base}/logs",
        f"{base}/logs?log=provisioning",
        f"{base}/tokens",
        f"{base}/operators",
    ):
        page.goto(path)
        accessible(page)
    Steps("dark").shot(page, "logs")


def test_sign_in_tells_what_went_wrong_and_sign_out_ends_the_session(
    page: Page, people: dict[str, str]
) -> None:
    steps = Steps("sign-in")
    sign_in(page, people["email"], "not the password")
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("IDS-401-130")
    expect(notice).to_contain_text("Tracking ID")
    accessible(page)
    steps.shot(page, "wrong-password")
    sign_in(page, people["email"])
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/admin/login"))
    page.goto(f"/admin/orgs/{people['org']}")
    expect(page).to_have_url(re.compile("/admin/login"))


def test_an_instance_administrator_picks_an_organisation(
    page: Page, stack: Stack, people: dict[str, str]
) -> None:
    orgs.create_org(open_database(stack.database_url), "Northwind", actor="tests")
    email = f"root-{uuid.uuid4().hex[:6]}@example.com"
    idsync_admin(stack.database_url, email, "readonly")
    sign_in(page, email)
    expect(page.get_by_role("heading", name="Organisations")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name=re.compile("Fabrikam")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("overview")
    # Read-only: no button that changes anything is offered.
    section(page, "Directory synchronization")
    expect(page.get_by_role("button", name=re.compile("directory sync"))).to_have_count(0)
