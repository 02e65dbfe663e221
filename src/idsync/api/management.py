"""The management API at ``/api/v1``: what the console does, as JSON for scripts.

Every endpoint names the operator first (a console session or an API key, see
``api/operators.py``), checks its role for the organisation the request touches, then
calls the same service layer as the CLI (``manage/``). Errors are the catalogue's, as
``{"error": {code, status, title, message, action}, "tracking_id": …}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idsync.api.operators import Principal, principal
from idsync.config import Settings
from idsync.contract.records import ObjectType
from idsync.errors.catalogue import INVALID_SYNTAX, IdsyncError
from idsync.hub.tenant import Hub
from idsync.manage import audit, directory, health, integrations, jobs, orgs, repair, tokens
from idsync.manage import debug as debug_info
from idsync.manage import operators as roles
from idsync.manage.validation import validate_integration
from idsync.store.integrations import IntegrationRecord

PREFIX = "/api/v1"
JOB_ACTIONS = (
    "run", "preview", "pause", "resume", "restart", "approve", "validate", "provision",
)  # fmt: skip
Handler = Callable[[Request, Principal], Awaitable[Any]]


def json_response(value: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(value, default=_default), status_code=status, media_type="application/json"
    )


def _default(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError


def error_json(exc: IdsyncError, tracking_id: str | None) -> dict[str, Any]:
    entry = exc.error
    return {
        "error": {
            "code": entry.code,
            "status": entry.status,
            "title": entry.title,
            "message": exc.message,
            "action": exc.action,
        },
        "tracking_id": tracking_id,
    }


def error_response(request: Request, exc: IdsyncError) -> Response:
    info = request.scope.setdefault("state", {})
    info["error_code"] = exc.error.code
    return json_response(error_json(exc, info.get("tracking_id")), exc.error.status)


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise IdsyncError(INVALID_SYNTAX, reason=str(exc)) from None
    if not isinstance(body, dict):
        raise IdsyncError(INVALID_SYNTAX, reason="the body is not a JSON object")
    return body


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise IdsyncError(INVALID_SYNTAX, reason=f"{value!r} is not an ISO 8601 time") from None


def _int(value: str | None, default: int, largest: int) -> int:
    try:
        return max(0, min(int(value), largest)) if value else default
    except ValueError:
        raise IdsyncError(INVALID_SYNTAX, reason=f"{value!r} is not a number") from None


def routes(db: Any, settings: Settings, hub: Hub) -> list[Route]:
    """The management API's routes over one database."""

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                who = await principal(request, db)
                result = await handler(request, who)
            except IdsyncError as exc:
                return error_response(request, exc)
            return result if isinstance(result, Response) else json_response(result)

        return run

    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return run_in_threadpool(fn, *args, **kwargs)

    async def integration(request: Request, who: Principal, action: str) -> IntegrationRecord:
        record: IntegrationRecord = await call(
            integrations.get_integration, db, request.path_params["integration"]
        )
        who.authorize(action, record.org_id)
        return record

    def org_of(request: Request, who: Principal, action: str = roles.READ) -> str:
        org_id: str = request.path_params["org"]
        who.authorize(action, org_id)
        return org_id

    # --- who, orgs -------------------------------------------------------------------------

    async def me(request: Request, who: Principal) -> Any:
        return {"operator": who.operator, "csrf_token": who.csrf_token or None}

    async def list_orgs(request: Request, who: Principal) -> Any:
        visible = set(await call(roles.visible_org_ids, db, who.operator))
        return [o for o in await call(orgs.list_orgs, db) if o.id in visible]

    async def get_org(request: Request, who: Principal) -> Any:
        return await call(orgs.get_org, db, org_of(request, who))

    async def directory_sync(request: Request, who: Principal) -> Any:
        org_id = org_of(request, who, roles.SETTINGS)
        allowed = (await body_of(request)).get("allowed")
        if not isinstance(allowed, bool):
            raise IdsyncError(INVALID_SYNTAX, reason="'allowed' must be true or false")
        return await call(orgs.set_directory_sync, db, org_id, allowed, actor=who.actor)

    # --- integrations ----------------------------------------------------------------------

    async def list_integrations(request: Request, who: Principal) -> Any:
        pairs = await call(integrations.list_integrations, db, org_of(request, who))
        return [{"integration": _shown(r), "job": j} for r, j in pairs]

    async def add_integration(request: Request, who: Principal) -> Any:
        org_id = org_of(request, who, roles.CREDENTIALS)
        body = await body_of(request)
        record = await call(
            integrations.add_from_form,
            db,
            settings,
            org_id=org_id,
            kind=str(body.get("kind", "")),
            name=str(body.get("name", "")),
            values={str(k): str(v) for k, v in (body.get("settings") or {}).items()},
            actor=who.actor,
        )
        return json_response(_shown(record), 201)

    async def get_integration(request: Request, who: Principal) -> Any:
        record = await integration(request, who, roles.READ)
        job = await call(integrations.get_job, db, record.id)
        return {"integration": _shown(record), "job": job}

    async def update_integration(request: Request, who: Principal) -> Any:
        record = await integration(request, who, roles.CREDENTIALS)
        body = await body_of(request)
        changes = integrations.Changes(options=dict(body.get("options") or {}))
        updated = await call(
            integrations.update_integration, db, settings, record.id, changes, actor=who.actor
        )
        return _shown(updated.record)

    async def remove_integration(request: Request, who: Principal) -> Any:
        record = await integration(request, who, roles.CREDENTIALS)
        await call(integrations.remove_integration, db, record.id, actor=who.actor)
        return Response(status_code=204)

    async def job_action(request: Request, who: Principal) -> Any:
        action = request.url.path.rsplit("/", 1)[1]
        record = await integration(request, who, roles.RUN)
        return await call(run_action, record, action, await body_of(request), who.actor)

    def run_action(record: IntegrationRecord, action: str, body: dict[str, Any], actor: str) -> Any:
        if action == "run":
            jobs.start_cycle(db, settings, record.id, actor=actor)
            return json_response({"started": True, "integration": record.id}, 202)
        if action == "preview":
            return jobs.run_cycle(db, settings, record.id, preview=True, actor=actor)
        if action == "provision":
            kind: ObjectType = "group" if body.get("object_type") == "group" else "user"
            source_id = str(body.get("source_id") or "")
            if body.get("object_type", "user") not in ("user", "group") or not source_id:
                raise IdsyncError(
                    INVALID_SYNTAX, reason="give 'source_id' (and 'object_type': user or group)"
                )
            return {"entries": jobs.provision_one(db, settings, record.id, kind, source_id)}
        if action in ("pause", "resume"):
            return jobs.set_paused(db, record.id, action == "pause", actor=actor)
        if action == "restart":
            return jobs.restart(db, record.id, list(body.get("reset") or []), actor=actor)
        if action == "approve":
            return jobs.approve_deletes(db, settings, record.id, actor=actor)
        return validate_integration(db, settings, record.id)

    async def progress(request: Request, who: Principal) -> Any:
        record = await integration(request, who, roles.READ)
        return await call(jobs.progress, db, record.id)

    async def cycles(request: Request, who: Principal) -> Any:
        record = await integration(request, who, roles.READ)
        limit = _int(request.query_params.get("limit"), 20, 500)
        return await call(jobs.recent_cycles, db, record.id, limit)

    async def provisioning_log(request: Request, who: Principal) -> Any:
        record = await integration(request, who, roles.READ)
        q = request.query_params
        return await call(
            jobs.provisioning_log,
            db,
            record.id,
            cycle_id=q.get("cycle") or None,
            action=q.get("action") or None,
            result=q.get("result") or None,
            limit=_int(q.get("limit"), 100, 10_000),
        )

    async def finding(request: Request, who: Principal) -> Any:
        record = await integration(request, who, roles.READ)
        status = await call(repair.repair_status, db, settings, record.id)
        return {
            "finding": status.finding,
            "job": status.job,
            "consent_url": status.consent_url,
            "repaired": status.repaired,
        }

    async def org_findings(request: Request, who: Principal) -> Any:
        return await call(health.doctor, db, org_id=org_of(request, who), config=settings)

    # --- users, groups, logs, tokens, debug info ---------------------------------------------

    async def people(request: Request, who: Principal) -> Any:
        kind = "users" if request.url.path.endswith("/users") else "groups"
        q = request.query_params
        page = await call(
            directory.search,
            hub,
            org_of(request, who),
            kind,
            q.get("search", ""),
            _int(q.get("start"), 0, 10**9),
        )
        return {"total": page.total, "start": page.start, "items": page.items}

    async def person(request: Request, who: Principal) -> Any:
        kind = "users" if "/users/" in request.url.path else "groups"
        found = await call(
            directory.detail, hub, org_of(request, who), kind, request.path_params["id"]
        )
        return {
            "resource": found.resource,
            "owner": found.owner,
            "owner_id": found.owner_id,
            "members_total": found.members_total,
            "members": [{"id": i, "type": t, "name": n} for i, t, n in found.members],
        }

    async def audit_log(request: Request, who: Principal) -> Any:
        q = request.query_params
        return await call(
            audit.list_events,
            db,
            org_id=org_of(request, who),
            since=parse_time(q.get("since")),
            until=parse_time(q.get("until")),
            category=q.get("category") or None,
            activity=q.get("activity") or None,
            limit=_int(q.get("limit"), 100, 10_000),
        )

    async def list_tokens(request: Request, who: Principal) -> Any:
        return await call(tokens.list_for, db, org_of(request, who))

    async def create_token(request: Request, who: Principal) -> Any:
        org_id = org_of(request, who, roles.CREDENTIALS)
        name = str((await body_of(request)).get("name") or "SCIM token")
        issued = await call(tokens.issue, db, org_id, name, actor=who.actor)
        return json_response({"token": issued.record, "secret": issued.secret}, 201)

    async def revoke_token(request: Request, who: Principal) -> Any:
        org_id = org_of(request, who, roles.CREDENTIALS)
        token_id = request.path_params["token"]
        return await call(tokens.revoke, db, token_id, actor=who.actor, org_id=org_id)

    async def debug(request: Request, who: Principal) -> Any:
        bundle: dict[str, Any] = await call(
            debug_info.debug_info, db, settings, request.path_params["tracking_id"]
        )
        who.authorize(roles.READ, (bundle.get("org") or {}).get("id") or "")
        return bundle

    org = PREFIX + "/orgs/{org}"
    one = PREFIX + "/integrations/{integration}"
    table: dict[str, dict[str, Handler]] = {
        PREFIX + "/me": {"GET": me},
        PREFIX + "/orgs": {"GET": list_orgs},
        org: {"GET": get_org},
        org + "/directory-sync": {"PUT": directory_sync},
        org + "/integrations": {"GET": list_integrations, "POST": add_integration},
        org + "/findings": {"GET": org_findings},
        org + "/users": {"GET": people},
        org + "/groups": {"GET": people},
        org + "/users/{id}": {"GET": person},
        org + "/groups/{id}": {"GET": person},
        org + "/audit-log": {"GET": audit_log},
        org + "/tokens": {"GET": list_tokens, "POST": create_token},
        org + "/tokens/{token}": {"DELETE": revoke_token},
        one: {"GET": get_integration, "PATCH": update_integration, "DELETE": remove_integration},
        **{f"{one}/{action}": {"POST": job_action} for action in JOB_ACTIONS},
        one + "/progress": {"GET": progress},
        one + "/cycles": {"GET": cycles},
        one + "/provisioning-log": {"GET": provisioning_log},
        one + "/finding": {"GET": finding},
        PREFIX + "/debug-info/{tracking_id}": {"GET": debug},
    }
    return [
        by_method(path, {m: endpoint(h) for m, h in handlers.items()})
        for path, handlers in table.items()
    ]


def by_method(path: str, handlers: dict[str, Callable[[Request], Awaitable[Response]]]) -> Route:
    """One route per path, whatever its methods: a 405 then lists them all in ``Allow``
    (with a route per method, Starlette's 405 names the first route's methods only)."""

    async def dispatch(request: Request) -> Response:
        handler = handlers.get(request.method) or handlers["GET"]  # HEAD: the GET
        return await handler(request)

    return Route(path, dispatch, methods=list(handlers))


def _shown(record: IntegrationRecord) -> dict[str, Any]:
    """An integration without its sealed credentials (only whether it has them)."""
    return {
        "id": record.id,
        "org_id": record.org_id,
        "kind": record.kind,
        "direction": record.direction,
        "name": record.name,
        "settings": record.settings,
        "has_credentials": bool(record.secrets),
        "auto_sync": record.auto_sync,
        "interval_seconds": record.interval_seconds,
        "deletion_threshold": record.deletion_threshold,
        "matching_attribute": record.matching_attribute,
        "scoping": record.scoping,
        "mappings": record.mappings,
    }
