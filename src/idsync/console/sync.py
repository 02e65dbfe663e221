"""Directory synchronization: the org's switch, its integrations, adding one (with Entra's
admin-consent step), one integration with its job, its actions and cycles, and its
health: the finding, the repair and validation."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idsync.api.management import JOB_ACTIONS
from idsync.api.operators import CSRF_FIELD, Principal
from idsync.console import charts
from idsync.console.pages import Console, flatten, notice
from idsync.errors.catalogue import CATALOGUE, IdsyncError
from idsync.manage import integrations, jobs, operators, orgs, repair
from idsync.manage.integrations import IntegrationRecord, JobRecord
from idsync.manage.validation import validate_integration

ACTIONS = (*JOB_ACTIONS, "auto-sync", "remove")
CHARTED_CYCLES = 15


async def sync_page(c: Console, request: Request, who: Principal) -> Response:
    context = await c.org_context(who, request.path_params["org"])
    pairs = await c.call(integrations.list_integrations, c.db, context["org"].id)
    return c.render(
        request,
        "sync.html",
        who,
        title="Directory synchronization",
        rows=pairs,
        kinds=integrations.source_kinds(),
        **context,
    )


async def switch(c: Console, request: Request, who: Principal) -> Response:
    org_id = request.path_params["org"]
    who.authorize(operators.SETTINGS, org_id)
    allowed = str((await request.form()).get("allowed")) == "on"
    await c.call(orgs.set_directory_sync, c.db, org_id, allowed, actor=who.actor)
    return RedirectResponse(f"/admin/orgs/{org_id}/sync", status_code=303)


# --- adding an integration -------------------------------------------------------------------


async def add_form(c: Console, request: Request, who: Principal) -> Response:
    context = await c.org_context(who, request.path_params["org"])
    who.authorize(operators.CREDENTIALS, context["org"].id)
    kind = request.query_params.get("kind", "entra")
    fields = integrations.form_settings(kind)
    return c.render(
        request, "add.html", who, title="Add an integration", kind=kind, fields=fields,
        values={}, **context,
    )  # fmt: skip


async def add(c: Console, request: Request, who: Principal) -> Response:
    context = await c.org_context(who, request.path_params["org"])
    org_id = context["org"].id
    who.authorize(operators.CREDENTIALS, org_id)
    form = await request.form()
    kind, name = str(form.get("kind") or "entra"), str(form.get("name") or "")
    values = {k: str(v) for k, v in form.items() if k not in ("kind", "name", CSRF_FIELD)}
    try:
        record = await c.call(
            integrations.add_from_form, c.db, c.settings, org_id=org_id, kind=kind, name=name,
            values=values, actor=who.actor,
        )  # fmt: skip
    except IdsyncError as exc:
        fields = integrations.form_settings(kind)
        secret = {s.name for s in fields if s.secret}  # never sent back to the browser
        shown = {k: v for k, v in values.items() if k not in secret}
        return c.render(
            request, "add.html", who, exc.error.status, title="Add an integration", kind=kind,
            fields=fields, values=shown, name=name, error=notice(request, exc), **context,
        )  # fmt: skip
    return RedirectResponse(f"/admin/integrations/{record.id}?added=1", status_code=303)


# --- one integration -------------------------------------------------------------------------


async def integration_page(c: Console, request: Request, who: Principal) -> Response:
    return await show_integration(c, request, who, await c.integration(request, who))


async def show_integration(
    c: Console,
    request: Request,
    who: Principal,
    record: IntegrationRecord,
    status: int = 200,
    **extra: Any,
) -> Response:
    context = await c.org_context(who, record.org_id)
    job = await c.call(integrations.get_job, c.db, record.id)
    state = await c.call(repair.repair_status, c.db, c.settings, record.id)
    cycles = await c.call(jobs.recent_cycles, c.db, record.id, 30)
    added = request.query_params.get("added") == "1"
    consent = None
    if _consent_step_due(request, job, cycles, added) and operators.may(
        who.operator, operators.CREDENTIALS
    ):
        consent = await c.call(repair.first_consent_link, c.db, c.settings, record.id)
    error = extra.pop("error", None)
    if error is None and state.finding is not None:
        error = _failure_notice(state.finding, job, record)
    return c.render(
        request,
        "integration.html",
        who,
        status,
        title=record.name,
        integration=record,
        job=job,
        finding=state.finding,
        consent_url=consent,
        cycles=cycles,
        error=error,
        **_charts(cycles),
        settings_shown=flatten(record.settings),
        added=added,
        consented=request.query_params.get("consented") == "1",
        started=request.query_params.get("started") == "1",
        **extra,
        **context,
    )


def _consent_step_due(
    request: Request, job: JobRecord, cycles: list[dict[str, Any]], added: bool
) -> bool:
    """Step 2 of adding: just added, or never run; not once consent came back, nor once
    the first cycle was asked for (its thread may not have marked the job running yet)."""
    first = job.status == "NotRun" and not cycles and job.running_since is None
    answered = {"consented", "started"} & request.query_params.keys()
    return (added or first) and not answered


def _charts(cycles: list[dict[str, Any]]) -> dict[str, Any]:
    done = [c for c in reversed(cycles) if c["mode"] != "onDemand" and c["seconds"] is not None]
    shown = done[-CHARTED_CYCLES:]
    written = ("create", "update", "disable", "delete")
    return {
        "objects_chart": charts.bars(
            "Objects written per cycle",
            [
                (_short(c["started_at"]), sum(int(c["counts"].get(a, 0)) for a in written))
                for c in shown
            ],
        ),
        "durations_chart": charts.bars(
            "Cycle duration (seconds)", [(_short(c["started_at"]), c["seconds"]) for c in shown]
        ),
    }


def _short(when: Any) -> str:
    return when.strftime("%d %b %H:%M") if when else ""


def _failure_notice(finding: Any, job: JobRecord, record: IntegrationRecord) -> dict[str, Any]:
    """The notification an integration's page shows while its job is failing."""
    entry = CATALOGUE.get(job.reason_code or "")
    return {
        "title": finding.summary,
        "message": job.reason or finding.summary,
        "action": "Open the finding for the evidence and the repair.",
        "code": job.reason_code or (entry.code if entry else ""),
        "tracking_id": finding.tracking_id,
        "finding_url": f"/admin/integrations/{record.id}/finding",
    }


async def integration_action(c: Console, request: Request, who: Principal) -> Response:
    record = await c.integration(request, who)
    action = request.url.path.rsplit("/", 1)[1]
    try:
        return await _act(c, request, who, record, action)
    except IdsyncError as exc:
        shown = notice(request, exc, record.id)
        return await show_integration(c, request, who, record, exc.error.status, error=shown)


async def _act(
    c: Console, request: Request, who: Principal, record: IntegrationRecord, action: str
) -> Response:
    form = await request.form()
    back = RedirectResponse(f"/admin/integrations/{record.id}", status_code=303)
    if action in ("auto-sync", "remove"):
        who.authorize(operators.CREDENTIALS, record.org_id)
    else:
        who.authorize(operators.RUN, record.org_id)
    if action == "auto-sync":
        changes = integrations.Changes(options={"auto_sync": form.get("auto_sync") == "on"})
        await c.call(
            integrations.update_integration, c.db, c.settings, record.id, changes, actor=who.actor
        )
    elif action == "remove":
        await c.call(integrations.remove_integration, c.db, record.id, actor=who.actor)
        return RedirectResponse(f"/admin/orgs/{record.org_id}/sync", status_code=303)
    elif action == "run":
        await c.call(jobs.start_cycle, c.db, c.settings, record.id, actor=who.actor)
        return RedirectResponse(f"/admin/integrations/{record.id}?started=1", status_code=303)
    elif action == "preview":
        report = await c.call(
            jobs.run_cycle, c.db, c.settings, record.id, preview=True, actor=who.actor
        )
        return await show_integration(c, request, who, record, preview=report.preview or [])
    elif action == "provision":
        source_id = str(form.get("source_id") or "").strip()
        entries = await c.call(jobs.provision_one, c.db, c.settings, record.id, "user", source_id)
        return await show_integration(c, request, who, record, provisioned=entries)
    elif action in ("pause", "resume"):
        await c.call(jobs.set_paused, c.db, record.id, action == "pause", actor=who.actor)
    elif action == "restart":
        resets = [str(r) for r in form.getlist("reset")]
        await c.call(jobs.restart, c.db, record.id, resets, actor=who.actor)
    elif action == "approve":
        await c.call(jobs.approve_deletes, c.db, c.settings, record.id, actor=who.actor)
    elif action == "validate":
        return await show_finding(c, request, who, record, validated=True)
    return back


# --- its health --------------------------------------------------------------------------------


async def finding_page(c: Console, request: Request, who: Principal) -> Response:
    return await show_finding(c, request, who, await c.integration(request, who))


async def show_finding(
    c: Console, request: Request, who: Principal, record: IntegrationRecord, validated: bool = False
) -> Response:
    context = await c.org_context(who, record.org_id)
    state = await c.call(repair.repair_status, c.db, c.settings, record.id)
    validation = (
        await c.call(validate_integration, c.db, c.settings, record.id) if validated else None
    )
    return c.render(
        request,
        "finding.html",
        who,
        title=f"{record.name}: health",
        integration=record,
        state=state,
        finding=state.finding,
        validation=validation,
        **context,
    )
