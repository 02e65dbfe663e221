"""The incident, in a real browser, from the console alone: sign in, connect Entra ID with
its consent step, run the first sync and watch it, lose the enterprise application, see
the notification, copy debug info, open the finding, repair through consent, validate.

Every page on the way is checked with axe-core (no serious or critical violation)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.console.conftest import (
    PASSWORD,
    Stack,
    Steps,
    entra_integration,
    idsync_admin,
    new_org_name,
)

AXE = Axe()
TRACKING = re.compile(r"IDS_[0-9a-f-]{36}")


def accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    results = AXE.run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def make_org(stack: Stack) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "idsync", "org", "create", new_org_name(), "--json",
         "--database", stack.database_url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return str(json.loads(made.stdout)["id"])


def consent_in_emulator(page: Page) -> None:
    """The tenant administrator's part, on the emulator's consent page."""
    expect(page.get_by_role("button", name="Accept")).to_be_visible()
    page.get_by_role("button", name="Accept").click()


def test_an_administrator_connects_loses_and_repairs_entra_in_the_console(
    page: Page, stack: Stack
) -> None:
    steps = Steps("incident")
    info = stack.emulator.info
    org_id = make_org(stack)
    idsync_admin(stack.database_url, "ana@contoso.example", "full", org_id)

    sign_in(page, "ana@contoso.example")
    expect(page.get_by_role("heading", level=1)).to_contain_text("overview")
    steps.shot(page, "overview")
    accessible(page)

    page.get_by_role("navigation", name="Sections").get_by_role(
        "link", name="Directory synchronization"
    ).click()
    steps.shot(page, "directory-sync-empty")
    accessible(page)
    page.get_by_role("link", name="Connect Microsoft Entra ID").click()
    page.get_by_label("Name").fill("Contoso Entra")
    page.get_by_label("Tenant id (required)").fill(info["tenant_id"])
    page.get_by_label("Client id (required)").fill(info["client_id"])
    page.get_by_label("Client secret").fill(info["client_secret"])
    page.get_by_text("Advanced settings").click()
    page.get_by_label("Authority").fill(info["url"])
    page.get_by_label("Graph url").fill(info["graph_url"])
    page.get_by_label("Ca file").fill(info["ca_file"])
    steps.shot(page, "add-entra")
    accessible(page)
    page.get_by_role("button", name="Add integration").click()

    expect(page.get_by_role("heading", name="Step 2 of 2: admin consent")).to_be_visible()
    steps.shot(page, "consent-step")
    accessible(page)
    page.get_by_role("link", name="Grant admin consent").click()
    consent_in_emulator(page)
    expect(page.get_by_text("Admin consent granted")).to_be_visible()
    integration_url = page.url.split("?")[0]
    steps.shot(page, "consented")

    # The first sync, slowed by the directory (one Graph read waits 8 s) so it can be
    # watched: with 3 s, a loaded CI machine once showed the page after the cycle ended.
    stack.emulator.fault(path="/v1.0/groups", action="hang", seconds=8, count=1)
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("heading", name="Step 2 of 2: admin consent")).to_have_count(0)
    progress = page.locator("#progress")
    expect(progress).to_contain_text("Cycle running", timeout=15_000)
    expect(progress).to_contain_text(re.compile(r"[1-9]\d* objects read"))
    steps.shot(page, "first-sync-running")
    # When the cycle ends the page shows its outcome: no progress, the cycle in the table.
    expect(progress).to_be_empty(timeout=30_000)
    expect(page).to_have_url(integration_url)
    expect(page.locator("#job-status")).to_contain_text("Active")
    steps.shot(page, "first-sync-done")
    accessible(page)

    # Someone deletes the enterprise application; the next run is refused.
    stack.emulator.write("POST", "/_emulator/break", {"cause": "remove-service-principal"})
    page.get_by_role("button", name="Run now").click()
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("IDS-502-012", timeout=30_000)
    expect(notice).to_contain_text("Tracking ID")
    tracking_id = notice.locator(".tracking-id").inner_text()
    assert TRACKING.fullmatch(tracking_id)
    expect(page.locator("#job-status")).to_contain_text("Quarantine")
    steps.shot(page, "notification")
    accessible(page)

    notice.get_by_role("button", name="Copy debug info").click()
    expect(notice.get_by_role("status")).to_contain_text("Debug info copied")
    bundle = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert bundle["tracking_id"] == tracking_id
    assert bundle["status"] == "IDS-502-012"
    assert bundle["integration"]["name"] == "Contoso Entra"
    assert bundle["finding"]["cause"] == "service_principal_removed"
    assert info["client_secret"] not in json.dumps(bundle)

    notice.get_by_role("link", name="Open the finding").click()
    expect(page.get_by_role("heading", level=2).first).to_contain_text(
        "the enterprise application was deleted"
    )
    evidence = page.locator("table.evidence")
    expect(evidence).to_contain_text("AADSTS7000229")  # what Entra said to idsync's sign-in
    expect(page.get_by_text("What idsync protected")).to_be_visible()
    steps.shot(page, "finding")
    accessible(page)

    page.get_by_role("link", name="Grant admin consent").click()
    consent_in_emulator(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Repaired")
    # The re-created application reads the directory audit log: who removed it, and when.
    expect(page.locator("#removal")).to_contain_text("Remove service principal")
    steps.shot(page, "repaired")
    page.get_by_role("link", name="validate it in the console").click()
    expect(page.get_by_text("No open finding")).to_be_visible()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("heading", name="Validation: healthy")).to_be_visible(timeout=30_000)
    expect(page.locator(".checks .fail")).to_have_count(0)
    expect(page.locator("#job-status")).to_have_text("Active")
    steps.shot(page, "validated")
    accessible(page)

    page.goto(integration_url)
    expect(page.locator("#job-status")).to_contain_text("Active")
    page.get_by_role("link", name="Directory synchronization").first.click()
    row = page.get_by_role("row", name=re.compile("Contoso Entra"))
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("On")
    steps.shot(page, "directory-sync-active")


def test_the_page_run_now_lands_on_says_starting_not_the_consent_step_again(
    page: Page, stack: Stack
) -> None:
    """The "Run now" button starts the cycle in a thread and redirects at once, so the page
    it lands on can render before the job is marked running. For a job never run, that page
    must not offer the consent step again: it says the cycle is starting."""
    org, record = entra_integration(stack, new_org_name(), "Never run")
    idsync_admin(stack.database_url, "sam@contoso.example", "full", org)
    sign_in(page, "sam@contoso.example")
    consent = page.get_by_role("heading", name="Step 2 of 2: admin consent")

    page.goto(f"/admin/integrations/{record.id}")
    expect(consent).to_be_visible()  # never run: the step is offered
    # The job is still not running (no cycle was started): as just after "Run now".
    page.goto(f"/admin/integrations/{record.id}?started=1")
    expect(page.locator("#progress")).to_have_text("Starting the cycle…")
    expect(consent).to_have_count(0)
    accessible(page)
