"""The console's pages at ``/admin``: server-rendered (Jinja2, autoescaped), each a plain
form or link that works without script; ``static/console.js`` adds live progress,
copying debug info and notifications on top.

Every page names the operator first (``api/operators.py``), checks its role for the
organisation it shows, and calls the service layer (``manage/``), as the CLI does.
A failing request renders its page again with a notification: the error's title,
explanation, code and tracking ID, the finding it belongs to, and Copy debug info.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from idsync.api.management import JOB_ACTIONS, by_method, parse_time
from idsync.api.operators import (
    COOKIE,
    CSRF_FIELD,
    Principal,
    address_of,
    clear_session_cookie,
    principal,
    set_session_cookie,
)
from idsync.config import Settings
from idsync.console import charts
from idsync.errors.catalogue import ENDPOINT_NOT_FOUND, SESSION_REQUIRED, IdsyncError
from idsync.hub.tenant import Hub
from idsync.manage import (
    audit,
    directory,
    health,
    integrations,
    jobs,
    oidc,
    operators,
    orgs,
    repair,
)
from idsync.manage.database import Database
from idsync.manage.integrations import IntegrationRecord
from idsync.manage.validation import validate_integration

_PAGES = Environment(
    loader=PackageLoader("idsync.console", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_PAGES.filters["shown"] = lambda value: (
    ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else value
)


def _console_action(command: str) -> dict[str, Any] | None:
    """The console's button for a repair step's CLI command, when it has one."""
    words = command.split()
    if words[:2] == ["idsync", "validate"]:
        return {"action": "validate", "label": "Validate", "resets": []}
    if words[:3] == ["idsync", "sync", "restart"]:
        resets = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--reset"]
        label = "Restart (" + ", ".join(f"clear {r}" for r in resets) + ")" if resets else "Restart"
        return {"action": "restart", "label": label, "resets": resets}
    if words[:3] == ["idsync", "sync", "resume"]:
        return {"action": "resume", "label": "Resume", "resets": []}
    if words[:3] == ["idsync", "sync", "approve-deletes"]:
        return {"action": "approve", "label": "Approve staged deletes", "resets": []}
    return None


_PAGES.filters["console_action"] = _console_action
_HEADERS = {
    "Cache-Control": "no-store",
    # Only our own files: no inline script, no other origin, not framed by another site.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self' https:",
    "Referrer-Policy": "same-origin",
}
STATUS_COLOUR = {
    "Active": "green",
    "NotRun": "amber",
    "NotConfigured": "amber",
    "Paused": "amber",
    "Quarantine": "red",
    "Disabled": "red",
}
LOG_KINDS = ("audit", "provisioning")
OIDC_COOKIE = "idsync_oidc"
Page = Callable[[Request, Principal], Awaitable[Response]]


def routes(db: Database, settings: Settings, hub: Hub) -> list[Route | Mount]:
    def render(
        request: Request,
        template: str,
        who: Principal | None,
        status: int = 200,
        /,
        **values: Any,
    ) -> HTMLResponse:
        body = _PAGES.get_template(template).render(
            who=who,
            csrf_field=CSRF_FIELD,
            csrf_token=who.csrf_token if who else "",
            path=request.url.path,
            colour=STATUS_COLOUR,
            **values,
        )
        return HTMLResponse(body, status_code=status, headers=_HEADERS)

    def notice(
        request: Request, exc: IdsyncError, integration_id: str | None = None
    ) -> dict[str, Any]:
        info = request.scope.setdefault("state", {})
        info["error_code"] = exc.error.code
        return {
            "title": exc.error.title[:1].upper() + exc.error.title[1:],
            "message": exc.message,
            "action": exc.action,
            "code": exc.error.code,
            "tracking_id": info.get("tracking_id"),
            "finding_url": f"/admin/integrations/{integration_id}/finding"
            if integration_id
            else None,
        }

    def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                who = await principal(request, db)
            except IdsyncError as exc:
                if exc.error is SESSION_REQUIRED and request.method == "GET":
                    target = "/admin/login?" + urlencode({"next": str(request.url.path)})
                    return RedirectResponse(target, status_code=303)
                return render(
                    request, "error.html", None, exc.error.status, error=notice(request, exc)
                )
            try:
                return await handler(request, who)
            except IdsyncError as exc:
                return render(
                    request, "error.html", who, exc.error.status, error=notice(request, exc)
                )

        return run

    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return run_in_threadpool(fn, *args, **kwargs)

    async def org_context(who: Principal, org_id: str) -> dict[str, Any]:
        who.authorize(operators.READ, org_id)
        org = await call(orgs.get_org, db, org_id)
        visible = set(await call(operators.visible_org_ids, db, who.operator))
        all_orgs = [o for o in await call(orgs.list_orgs, db) if o.id in visible]
        return {"org": org, "orgs": all_orgs}

    # --- signing in and out ----------------------------------------------------------------

    def login_page(request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        provider = settings.oidc_name if oidc.enabled(settings) else None
        return render(request, "login.html", None, status, provider=provider, **values)

    async def login_form(request: Request) -> Response:
        return login_page(request, next=_safe_next(request.query_params.get("next")))

    def oidc_redirect_uri() -> str:
        return settings.callback_base + oidc.CALLBACK_PATH

    async def oidc_start(request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        try:
            if not oidc.enabled(settings):
                raise IdsyncError(ENDPOINT_NOT_FOUND, path=request.url.path)
            started = await call(oidc.start, db, settings, oidc_redirect_uri(), target)
        except IdsyncError as exc:
            return login_page(request, exc.error.status, next=target, error=notice(request, exc))
        response = RedirectResponse(started.url, status_code=303)
        response.set_cookie(
            OIDC_COOKIE, started.pending, max_age=oidc.PENDING_SECONDS, path=oidc.CALLBACK_PATH,
            httponly=True, samesite="lax", secure=settings.callback_base.startswith("https://"),
        )  # fmt: skip
        return response

    async def oidc_callback(request: Request) -> Response:
        try:
            signed, target = await call(
                oidc.finish, db, settings, dict(request.query_params),
                request.cookies.get(OIDC_COOKIE), oidc_redirect_uri(), address_of(request),
            )  # fmt: skip
        except IdsyncError as exc:
            response: Response = login_page(request, exc.error.status, error=notice(request, exc))
        else:
            response = RedirectResponse(_safe_next(target) or "/admin", status_code=303)
            set_session_cookie(response, signed.secret, settings)
        response.delete_cookie(OIDC_COOKIE, path=oidc.CALLBACK_PATH)
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        email = str(form.get("email") or "")
        target = _safe_next(str(form.get("next") or ""))
        try:
            signed = await call(
                operators.sign_in,
                db,
                settings,
                email,
                str(form.get("password") or ""),
                address_of(request),
            )
        except IdsyncError as exc:
            return login_page(
                request, exc.error.status, next=target, email=email, error=notice(request, exc)
            )
        response = RedirectResponse(target or "/admin", status_code=303)
        set_session_cookie(response, signed.secret, settings)
        return response

    async def logout(request: Request, who: Principal) -> Response:
        secret = request.cookies.get(COOKIE)
        if secret:
            await call(operators.sign_out, db, secret, who.address)
        response = RedirectResponse("/admin/login", status_code=303)
        clear_session_cookie(response)
        return response

    # --- overview ----------------------------------------------------------------------------

    async def home(request: Request, who: Principal) -> Response:
        visible = await call(operators.visible_org_ids, db, who.operator)
        if len(visible) == 1:
            return RedirectResponse(f"/admin/orgs/{visible[0]}", status_code=303)
        listed = [o for o in await call(orgs.list_orgs, db) if o.id in set(visible)]
        return render(request, "orgs.html", who, orgs=listed, title="Organisations")

    async def overview(request: Request, who: Principal) -> Response:
        context = await org_context(who, request.path_params["org"])
        org_id = context["org"].id
        pairs = await call(integrations.list_integrations, db, org_id)
        found = await call(health.doctor, db, org_id=org_id, config=settings)
        by_integration = {f.integration_id: f for f in found}
        users = await call(directory.search, hub, org_id, "users", "", 0)
        groups = await call(directory.search, hub, org_id, "groups", "", 0)
        failures = await call(_recent_failures, db, org_id)
        causes: dict[str, int] = {}
        for finding in found:
            causes[finding.cause] = causes.get(finding.cause, 0) + 1
        return render(
            request,
            "overview.html",
            who,
            title="Overview",
            rows=[(r, j, by_integration.get(r.id)) for r, j in pairs],
            hub_findings=[f for f in found if f.integration_id is None],
            users_total=users.total,
            groups_total=groups.total,
            failures=failures,
            causes_chart=charts.bars("Open findings by cause", sorted(causes.items())),
            **context,
        )

    # --- users and groups ----------------------------------------------------------------------

    async def people(request: Request, who: Principal) -> Response:
        kind = "users" if request.url.path.endswith("/users") else "groups"
        context = await org_context(who, request.path_params["org"])
        search = request.query_params.get("search", "")
        start = _number(request.query_params.get("start"))
        found = await call(directory.search, hub, context["org"].id, kind, search, start)
        return render(
            request,
            "people.html",
            who,
            title="Users" if kind == "users" else "Groups",
            kind=kind,
            search=search,
            page=found,
            size=directory.PAGE_SIZE,
            **context,
        )

    async def person(request: Request, who: Principal) -> Response:
        kind = "users" if "/users/" in request.url.path else "groups"
        context = await org_context(who, request.path_params["org"])
        found = await call(
            directory.detail, hub, context["org"].id, kind, request.path_params["id"]
        )
        resource = found.resource
        name = resource.get("userName") or resource.get("displayName") or resource["id"]
        return render(
            request,
            "person.html",
            who,
            title=str(name),
            kind=kind,
            found=found,
            attributes=_flatten(resource),
            **context,
        )

    # --- directory synchronization -----------------------------------------------------------

    async def sync_page(request: Request, who: Principal) -> Response:
        context = await org_context(who, request.path_params["org"])
        pairs = await call(integrations.list_integrations, db, context["org"].id)
        return render(
            request,
            "sync.html",
            who,
            title="Directory synchronization",
            rows=pairs,
            kinds=integrations.source_kinds(),
            **context,
        )

    async def switch(request: Request, who: Principal) -> Response:
        org_id = request.path_params["org"]
        who.authorize(operators.SETTINGS, org_id)
        allowed = str((await request.form()).get("allowed")) == "on"
        await call(orgs.set_directory_sync, db, org_id, allowed, actor=who.actor)
        return RedirectResponse(f"/admin/orgs/{org_id}/sync", status_code=303)

    async def add_form(request: Request, who: Principal) -> Response:
        context = await org_context(who, request.path_params["org"])
        who.authorize(operators.CREDENTIALS, context["org"].id)
        kind = request.query_params.get("kind", "entra")
        return render(
            request, "add.html", who, title="Add an integration", kind=kind,
            fields=integrations.form_settings(kind), values={}, **context,
        )  # fmt: skip

    async def add(request: Request, who: Principal) -> Response:
        context = await org_context(who, request.path_params["org"])
        org_id = context["org"].id
        who.authorize(operators.CREDENTIALS, org_id)
        form = await request.form()
        kind = str(form.get("kind") or "entra")
        values = {k: str(v) for k, v in form.items() if k not in ("kind", "name", CSRF_FIELD)}
        try:
            record = await call(
                integrations.add_from_form, db, settings, org_id=org_id, kind=kind,
                name=str(form.get("name") or ""), values=values, actor=who.actor,
            )  # fmt: skip
        except IdsyncError as exc:
            shown = {k: v for k, v in values.items() if not _is_secret(kind, k)}
            return render(
                request, "add.html", who, exc.error.status, title="Add an integration",
                kind=kind, fields=integrations.form_settings(kind), values=shown,
                name=form.get("name"), error=notice(request, exc), **context,
            )  # fmt: skip
        return RedirectResponse(f"/admin/integrations/{record.id}?added=1", status_code=303)

    async def integration_page(request: Request, who: Principal) -> Response:
        record = await _integration(request, who)
        return await show_integration(request, who, record)

    async def show_integration(
        request: Request,
        who: Principal,
        record: IntegrationRecord,
        status: int = 200,
        **extra: Any,
    ) -> Response:
        context = await org_context(who, record.org_id)
        job = await call(integrations.get_job, db, record.id)
        state = await call(repair.repair_status, db, settings, record.id)
        cycles = await call(jobs.recent_cycles, db, record.id, 30)
        consent = None
        added = request.query_params.get("added") == "1"
        first = job.status == "NotRun" and not cycles and job.running_since is None
        wanted = (added or first) and "consented" not in request.query_params
        if wanted and operators.may(who.operator, operators.CREDENTIALS):
            consent = await call(repair.first_consent_link, db, settings, record.id)
        failure = None
        if state.finding is not None and "error" not in extra:
            failure = _failure_notice(state.finding, job, record)
        finished = [
            c for c in reversed(cycles) if c["mode"] != "onDemand" and c["seconds"] is not None
        ]
        return render(
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
            error=extra.pop("error", None) or failure,
            objects_chart=charts.bars(
                "Objects written per cycle",
                [(_short(c["started_at"]), _written(c["counts"])) for c in finished[-15:]],
            ),
            durations_chart=charts.bars(
                "Cycle duration (seconds)",
                [(_short(c["started_at"]), c["seconds"]) for c in finished[-15:]],
            ),
            settings_shown=_settings_shown(record),
            added=added,
            consented=request.query_params.get("consented") == "1",
            started=request.query_params.get("started") == "1",
            **extra,
            **context,
        )

    async def integration_action(request: Request, who: Principal) -> Response:
        record = await _integration(request, who)
        action = request.url.path.rsplit("/", 1)[1]
        form = await request.form()
        try:
            if action == "auto-sync":
                who.authorize(operators.CREDENTIALS, record.org_id)
                changes = integrations.Changes(options={"auto_sync": form.get("auto_sync") == "on"})
                await call(
                    integrations.update_integration,
                    db,
                    settings,
                    record.id,
                    changes,
                    actor=who.actor,
                )
                return _back(record, "")
            if action == "remove":
                who.authorize(operators.CREDENTIALS, record.org_id)
                await call(integrations.remove_integration, db, record.id, actor=who.actor)
                return RedirectResponse(f"/admin/orgs/{record.org_id}/sync", status_code=303)
            who.authorize(operators.RUN, record.org_id)
            if action == "run":
                await call(jobs.start_cycle, db, settings, record.id, actor=who.actor)
                return _back(record, "?started=1")
            if action == "preview":
                report = await call(
                    jobs.run_cycle, db, settings, record.id, preview=True, actor=who.actor
                )
                return await show_integration(request, who, record, preview=report.preview or [])
            if action == "provision":
                source_id = str(form.get("source_id") or "").strip()
                entries = await call(jobs.provision_one, db, settings, record.id, "user", source_id)
                return await show_integration(request, who, record, provisioned=entries)
            if action in ("pause", "resume"):
                await call(jobs.set_paused, db, record.id, action == "pause", actor=who.actor)
            elif action == "restart":
                resets = [str(r) for r in form.getlist("reset")]
                await call(jobs.restart, db, record.id, resets, actor=who.actor)
            elif action == "approve":
                await call(jobs.approve_deletes, db, settings, record.id, actor=who.actor)
            elif action == "validate":
                return await show_finding(request, who, record, validated=True)
        except IdsyncError as exc:
            return await show_integration(
                request, who, record, exc.error.status, error=notice(request, exc, record.id)
            )
        return _back(record, "")

    async def finding_page(request: Request, who: Principal) -> Response:
        record = await _integration(request, who)
        return await show_finding(request, who, record)

    async def show_finding(
        request: Request, who: Principal, record: IntegrationRecord, validated: bool = False
    ) -> Response:
        context = await org_context(who, record.org_id)
        state = await call(repair.repair_status, db, settings, record.id)
        validation = (
            await call(validate_integration, db, settings, record.id) if validated else None
        )
        return render(
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

    async def _integration(request: Request, who: Principal) -> IntegrationRecord:
        record: IntegrationRecord = await call(
            integrations.get_integration, db, request.path_params["integration"]
        )
        who.authorize(operators.READ, record.org_id)
        return record

    # --- logs --------------------------------------------------------------------------------

    async def logs(request: Request, who: Principal) -> Response:
        context = await org_context(who, request.path_params["org"])
        org_id = context["org"].id
        q = request.query_params
        kind = str(q.get("log")) if q.get("log") in LOG_KINDS else "audit"
        pairs = await call(integrations.list_integrations, db, org_id)
        filters = {
            k: q.get(k, "")
            for k in (
                "since",
                "until",
                "category",
                "activity",
                "integration",
                "action",
                "result",
                "text",
            )
        }
        rows = await call(_log_rows, db, org_id, kind, filters, [r for r, _ in pairs])
        export = q.get("format")
        if export in ("csv", "json"):
            return _export(rows, export, kind)
        return render(
            request, "logs.html", who, title="Logs", log=kind, rows=rows[:500],
            filters=filters, integrations=[r for r, _ in pairs],
            query=urlencode({k: v for k, v in q.items() if k != "format"}),
            **context,
        )  # fmt: skip

    static = StaticFiles(packages=[("idsync.console", "static")])
    org = "/admin/orgs/{org}"
    one = "/admin/integrations/{integration}"

    async def home_redirect(request: Request) -> Response:
        return RedirectResponse("/admin", status_code=307)

    table: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {
        "/": {"GET": home_redirect},
        "/admin/login": {"GET": login_form, "POST": login},
        "/admin/login/oidc": {"GET": oidc_start},
        oidc.CALLBACK_PATH: {"GET": oidc_callback},
        "/admin/logout": {"POST": page(logout)},
        "/admin": {"GET": page(home)},
        org: {"GET": page(overview)},
        org + "/users": {"GET": page(people)},
        org + "/groups": {"GET": page(people)},
        org + "/users/{id}": {"GET": page(person)},
        org + "/groups/{id}": {"GET": page(person)},
        org + "/sync": {"GET": page(sync_page)},
        org + "/sync/switch": {"POST": page(switch)},
        org + "/integrations/new": {"GET": page(add_form)},
        org + "/integrations": {"POST": page(add)},
        org + "/logs": {"GET": page(logs)},
        one: {"GET": page(integration_page)},
        one + "/finding": {"GET": page(finding_page)},
        **{f"{one}/{action}": {"POST": page(integration_action)} for action in ACTIONS},
    }
    routes: list[Route | Mount] = [by_method(path, handlers) for path, handlers in table.items()]
    return [*routes, Mount("/admin/static", app=static, name="static")]


ACTIONS = (*JOB_ACTIONS, "auto-sync", "remove")


# --- what the pages show ---------------------------------------------------------------------


def _is_secret(kind: str, name: str) -> bool:
    return any(s.name == name and s.secret for s in integrations.form_settings(kind))


def _safe_next(target: str | None) -> str:
    """Only a path of the console: never another site (an open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return ""


def _number(raw: str | None) -> int:
    try:
        return max(int(raw or 0), 0)
    except ValueError:
        return 0


def _back(record: IntegrationRecord, suffix: str) -> Response:
    return RedirectResponse(f"/admin/integrations/{record.id}{suffix}", status_code=303)


def _short(when: Any) -> str:
    return when.strftime("%d %b %H:%M") if when else ""


def _written(counts: dict[str, Any]) -> int:
    return sum(int(counts.get(a, 0)) for a in ("create", "update", "disable", "delete"))


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A resource's attributes as (path, text) rows, extension attributes under their URN."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            if key in ("schemas", "meta", "groups", "members") and not prefix:
                continue
            rows.extend(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return rows
    if isinstance(value, list):
        rows = []
        for index, item in enumerate(value):
            rows.extend(_flatten(item, f"{prefix}[{index}]"))
        return rows
    return [(prefix, "" if value is None else str(value))]


def _settings_shown(record: IntegrationRecord) -> list[tuple[str, str]]:
    return [(k, v) for k, v in _flatten(record.settings)]


def _failure_notice(finding: Any, job: Any, record: IntegrationRecord) -> dict[str, Any]:
    from idsync.errors.catalogue import CATALOGUE

    entry = CATALOGUE.get(job.reason_code or "")
    return {
        "title": finding.summary,
        "message": job.reason or finding.summary,
        "action": "Open the finding for the evidence and the repair.",
        "code": job.reason_code or (entry.code if entry else ""),
        "tracking_id": finding.tracking_id,
        "finding_url": f"/admin/integrations/{record.id}/finding",
    }


def _recent_failures(db: Database, org_id: str) -> list[Any]:
    return [e for e in audit.list_events(db, org_id=org_id, limit=200) if e.result == "failure"][
        :10
    ]


def _log_rows(
    db: Database,
    org_id: str,
    kind: str,
    filters: dict[str, str],
    owned: list[IntegrationRecord],
) -> list[dict[str, Any]]:

    text = filters["text"].casefold()
    if kind == "audit":
        events = audit.list_events(
            db,
            org_id=org_id,
            since=parse_time(filters["since"]),
            until=parse_time(filters["until"]),
            category=filters["category"] or None,
            activity=filters["activity"] or None,
            limit=5000,
        )
        rows = [
            {
                "time": e.occurred_at,
                "category": e.category,
                "activity": e.activity,
                "result": e.result,
                "actor": e.actor,
                "target": e.target or "",
                "count": e.count,
                "tracking_id": e.tracking_id or "",
                "details": _details(e.details),
            }
            for e in events
        ]
    else:
        chosen = [r for r in owned if not filters["integration"] or r.id == filters["integration"]]
        rows = []
        for record in chosen:
            for entry in jobs.provisioning_log(
                db,
                record.id,
                action=filters["action"] or None,
                result=filters["result"] or None,
                limit=5000,
            ):
                rows.append(
                    {
                        "time": entry.get("occurred_at"),
                        "integration": record.name,
                        "integration_id": record.id,
                        "action": entry.get("action"),
                        "object_type": entry.get("object_type"),
                        "source_id": entry.get("source_id"),
                        "target_id": entry.get("target_id") or "",
                        "result": entry.get("result"),
                        "error_code": entry.get("error_code") or "",
                        "message": entry.get("message") or "",
                        "tracking_id": entry.get("tracking_id") or "",
                    }
                )
        rows.sort(key=lambda row: str(row["time"] or ""), reverse=True)
    if text:
        rows = [r for r in rows if any(text in str(v).casefold() for v in r.values())]
    return rows


def _details(details: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in details.items() if v not in (None, "", [], {}))


def _export(rows: list[dict[str, Any]], fmt: str, kind: str) -> Response:
    name = f"idsync-{kind}-log.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if fmt == "json":
        return Response(orjson.dumps(rows), media_type="application/json", headers=headers)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP: CSV injection)."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
