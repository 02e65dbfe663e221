"""The overview of an organisation, and the list of organisations an instance-wide
operator picks from."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idsync.api.operators import Principal
from idsync.console import charts
from idsync.console.pages import Console
from idsync.manage import audit, directory, health, integrations, operators, orgs
from idsync.manage.database import Database

RECENT_FAILURES = 10


async def home(c: Console, request: Request, who: Principal) -> Response:
    visible = await c.call(operators.visible_org_ids, c.db, who.operator)
    if len(visible) == 1:
        return RedirectResponse(f"/admin/orgs/{visible[0]}", status_code=303)
    listed = [o for o in await c.call(orgs.list_orgs, c.db) if o.id in set(visible)]
    return c.render(request, "orgs.html", who, orgs=listed, title="Organisations")


async def overview(c: Console, request: Request, who: Principal) -> Response:
    context = await c.org_context(who, request.path_params["org"])
    org_id = context["org"].id
    pairs = await c.call(integrations.list_integrations, c.db, org_id)
    found = await c.call(health.doctor, c.db, org_id=org_id, config=c.settings)
    by_integration = {f.integration_id: f for f in found}
    totals = await c.call(directory.totals, c.hub, org_id)
    causes: dict[str, int] = {}
    for finding in found:
        causes[finding.cause] = causes.get(finding.cause, 0) + 1
    return c.render(
        request,
        "overview.html",
        who,
        title="Overview",
        rows=[(r, j, by_integration.get(r.id)) for r, j in pairs],
        hub_findings=[f for f in found if f.integration_id is None],
        users_total=totals["users"],
        groups_total=totals["groups"],
        failures=await c.call(_recent_failures, c.db, org_id),
        causes_chart=charts.bars("Open findings by cause", sorted(causes.items())),
        **context,
    )


def _recent_failures(db: Database, org_id: str) -> list[Any]:
    events = audit.list_events(db, org_id=org_id, limit=200)
    return [e for e in events if e.result == "failure"][:RECENT_FAILURES]
