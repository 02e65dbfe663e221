"""Preview and on-demand provisioning from the console: a change made in the directory is
shown attribute by attribute before anything is written, then provisioned for one user."""

from __future__ import annotations

import re
import subprocess
import sys

from playwright.sync_api import Page, expect

from idsync.manage import integrations
from idsync.manage.audit import list_events
from idsync.store.database import open_database
from tests.console.conftest import Stack, Steps, entra_integration, idsync_admin
from tests.console.test_incident_in_browser import accessible, sign_in


def test_a_directory_change_is_previewed_per_attribute_then_provisioned_on_demand(
    page: Page, stack: Stack
) -> None:
    org, record = entra_integration(stack, "Woodgrove", "Woodgrove Entra")
    db = open_database(stack.database_url)
    subprocess.run(
        [sys.executable, "-m", "idsync", "sync", "run", record.id, "--database", stack.database_url],
        check=True, capture_output=True,
    )  # fmt: skip
    user = stack.emulator.all("/v1.0/users")[0]
    stack.emulator.write("PATCH", f"/v1.0/users/{user['id']}", {"jobTitle": "Chief Previewer"})
    idsync_admin(stack.database_url, "pat@woodgrove.example", "users", org)
    steps = Steps("preview")

    sign_in(page, "pat@woodgrove.example")
    page.goto(f"/admin/integrations/{record.id}")
    page.get_by_role("button", name="Preview").click()
    section = page.get_by_role("region", name="Preview: what a cycle would change")
    expect(section).to_contain_text("1 object would change")
    row = section.get_by_role("row", name=re.compile("title"))
    expect(row).to_contain_text('"Chief Previewer"')
    accessible(page)
    steps.shot(page, "preview")
    assert "Chief Previewer" not in _hub_titles(stack, org)

    page.get_by_label("Provision one user now (its id in the directory)").fill(user["id"])
    page.get_by_role("button", name="Provision on demand").click()
    provisioned = page.get_by_role("region", name="Provisioned on demand")
    expect(provisioned).to_contain_text("update")
    expect(provisioned).to_contain_text("success")
    steps.shot(page, "provisioned")
    assert "Chief Previewer" in _hub_titles(stack, org)

    # Restart, choosing what to reset: the next cycle reads the whole directory again.
    restart = page.get_by_role("group", name="Restart, resetting")
    restart.get_by_label("the quarantine (retry now)").uncheck()
    restart.get_by_label("everything: the next cycle reads the whole directory").check()
    restart.get_by_role("button", name="Restart").click()
    expect(page.locator("#job-status")).to_contain_text("Active")
    restarted = list_events(db, org_id=org, activity="Restart sync job")
    assert [e.details["reset"] for e in restarted] == [["full"]]
    assert restarted[0].actor == "pat@woodgrove.example (console, 127.0.0.1)"
    assert integrations.get_job(db, record.id).watermark == {}


def _hub_titles(stack: Stack, org: str) -> str:
    db = open_database(stack.database_url)
    with db.read() as conn:
        rows = conn.exec_driver_sql("SELECT doc FROM users WHERE org_id = ?", (org,)).fetchall()
    return " ".join(str(r[0]) for r in rows)
