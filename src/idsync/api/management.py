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
from idsync.errors.catalogue import (
    INTEGRATION_NOT_FOUND,
    INVALID_SYNTAX,
    ORG_NOT_FOUND,
    TRACKING_ID_NOT_FOUND,
    IdsyncError,
)
from idsync.hub.tenant import Hub
from idsync.manage import audit, directory, health, integrations, jobs, orgs, repair, tokens
from idsync.manage import debug as debug_info
from idsync.manage import operators as roles
from idsync.manage.database import Database
from idsync.manage.integrations import IntegrationRecord
from idsync.manage.validation import validate_integration

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


def call_service(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    """The service layer is synchronous: off the event loop. The management API's and
    the console's way to call it (``ManagementApi.call``, ``Console.call``)."""
    return run_in_threadpool(fn, *args, **kwargs)


def routes(db: Database, settings: Settings, hub: Hub) -> list[Route]:
    """The management API's routes over one database."""
    return ManagementApi(db, settings, hub).routes()


class ManagementApi:
    def __init__(self, db: Database, settings: Settings, hub: Hub) -> None:
        self.db = db
        self.settings = settings
        self.hub = hub

    def endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                who = await principal(request, self.db)
                result = await handler(request, who)
            except IdsyncError as exc:
                return error_response(request, exc)
            return result if isinstance(result, Response) else json_response(result)

        return run

    call = staticmethod(call_service)

    async def integration(self, request: Request, who: Principal, action: str) -> IntegrationRecord:
        """The integration the path names; another organisation's is not found either."""
        ref = request.path_params["integration"]
        record: IntegrationRecord = await self.call(integrations.get_integration, self.db, ref)
        try:
            who.authorize(action, record.org_id)
        except IdsyncError as exc:
            if exc.error is ORG_NOT_FOUND:
                raise IdsyncError(INTEGRATION_NOT_FOUND, integration=ref) from None
            raise
        return record

    def org_of(self, request: Request, who: Principal, action: str = roles.READ) -> str:
        org_id: str = request.path_params["org"]
        who.authorize(action, org_id)
        return org_id

    # --- who, orgs -------------------------------------------------------------------------

    async def me(self, request: Request, who: Principal) -> Any:
        return {"operator": who.operator, "csrf_token": who.csrf_token or None}

    async def list_orgs(self, request: Request, who: Principal) -> Any:
        visible = set(await self.call(roles.visible_org_ids, self.db, who.operator))
        return [o for o in await self.call(orgs.list_orgs, self.db) if o.id in visible]

    async def get_org(self, request: Request, who: Principal) -> Any:
        return await self.call(orgs.get_org, self.db, self.org_of(request, who))

    async def directory_sync(self, request: Request, who: Principal) -> Any:
        org_id = self.org_of(request, who, roles.SETTINGS)
        allowed = (await body_of(request)).get("allowed")
        if not isinstance(allowed, bool):
            raise IdsyncError(INVALID_SYNTAX, reason="'allowed' must be true or false")
        return await self.call(orgs.set_directory_sync, self.db, org_id, allowed, actor=who.actor)

    # --- integrations ----------------------------------------------------------------------

    async def list_integrations(self, request: Request, who: Principal) -> Any:
        pairs = await self.call(integrations.list_integrations, self.db, self.org_of(request, who))
        return [{"integration": _shown(r), "job": j} for r, j in pairs]

    async def add_integration(self, request: Request, who: Principal) -> Any:
        org_id = self.org_of(request, who, roles.CREDENTIALS)
        body = await body_of(request)
        record = await self.call(
            integrations.add_from_form,
            self.db,
            self.settings,
            org_id=org_id,
            kind=str(body.get("kind", "")),
            name=str(body.get("name", "")),
            values={str(k): str(v) for k, v in (body.get("settings") or {}).items()},
            actor=who.actor,
        )
        return json_response(_shown(record), 201)

    async def get_integration(self, request: Request, who: Principal) -> Any:
        record = await self.integration(request, who, roles.READ)
        job = await self.call(integrations.get_job, self.db, record.id)
        return {"integration": _shown(record), "job": job}

    async def update_integration(self, request: Request, who: Principal) -> Any:
        record = await self.integration(request, who, roles.CREDENTIALS)
        body = await body_of(request)
        changes = integrations.Changes(options=dict(body.get("options") or {}))
        updated = await self.call(
            integrations.update_integration,
            self.db,
            self.settings,
            record.id,
            changes,
            actor=who.actor,
        )
        return _shown(updated.record)

    async def remove_integration(self, request: Request, who: Principal) -> Any:
        record = await self.integration(request, who, roles.CREDENTIALS)
        await self.call(integrations.remove_integration, self.db, record.id, actor=who.actor)
        return Response(status_code=204)

    async def job_action(self, request: Request, who: Principal) -> Any:
        action = request.url.path.rsplit("/", 1)[1]
        record = await self.integration(request, who, roles.RUN)
        return await self.call(self.run_action, record, action, await body_of(request), who.actor)

    def run_action(
        self, record: IntegrationRecord, action: str, body: dict[str, Any], actor: str
    ) -> Any:
        if action == "run":
            jobs.start_cycle(self.db, self.settings, record.id, actor=actor)
            return json_response({"started": True, "integration": record.id}, 202)
        if action == "preview":
            return jobs.run_cycle(self.db, self.settings, record.id, preview=True, actor=actor)
        if action == "provision":
            kind: ObjectType = "group" if body.get("object_type") == "group" else "user"
            source_id = str(body.get("source_id") or "")
            if body.get("object_type", "user") not in ("user", "group") or not source_id:
                raise IdsyncError(
                    INVALID_SYNTAX, reason="give 'source_id' (and 'object_type': user or group)"
                )
            return {
                "entries": jobs.provision_one(self.db, self.settings, record.id, kind, source_id)
            }
        if action in ("pause", "resume"):
            return jobs.set_paused(self.db, record.id, action == "pause", actor=actor)
        if action == "restart":
            return jobs.restart(self.db, record.id, list(body.get("reset") or []), actor=actor)
        if action == "approve":
            return jobs.approve_deletes(self.db, self.settings, record.id, actor=actor)
        return validate_integration(self.db, self.settings, record.id)

    async def progress(self, request: Request, who: Principal) -> Any:
        record = await self.integration(request, who, roles.READ)
        return await self.call(jobs.progress, self.db, record.id)

    async def cycles(self, request: Request, who: Principal) -> Any:
        record = await self.integration(request, who, roles.READ)
        limit = _int(request.query_params.get("limit"), 20, 500)
        return await self.call(jobs.recent_cycles, self.db, record.id, limit)

    async def provisioning_log(self, request: Request, who: Principal) -> Any:
        record = await self.integration(request, who, roles.READ)
        q = request.query_params
        return await self.call(
            jobs.provisioning_log,
            self.db,
            record.id,
            cycle_id=q.get("cycle") or None,
            action=q.get("action") or None,
            result=q.get("result") or None,
            limit=_int(q.get("limit"), 100, 10_000),
        )

    async def finding(self, request: Request, who: Principal) -> Any:
        record = await self.integration(request, who, roles.READ)
        status = await self.call(repair.repair_status, self.db, self.settings, record.id)
        return {
            "finding": status.finding,
            "job": status.job,
            "consent_url": status.consent_url,
            "repaired": status.repaired,
        }

    async def org_findings(self, request: Request, who: Principal) -> Any:
        return await self.call(
            health.doctor, self.db, org_id=self.org_of(request, who), config=self.settings
        )

    # --- users, groups, logs, tokens, debug info ---------------------------------------------

    async def people(self, request: Request, who: Principal) -> Any:
        kind = "users" if request.url.path.endswith("/users") else "groups"
        q = request.query_params
        page = await self.call(
            directory.search, self.hub, self.org_of(request, who), kind, q.get("search", ""),
            after=q.get("after") or None, before=q.get("before") or None,
        )  # fmt: skip
        return {
            "total": page.total,
            "items": page.items,
            "previous": page.previous,
            "next": page.next,
        }

    async def person(self, request: Request, who: Principal) -> Any:
        kind = "users" if "/users/" in request.url.path else "groups"
        found = await self.call(
            directory.detail, self.hub, self.org_of(request, who), kind, request.path_params["id"]
        )
        return {
            "resource": found.resource,
            "owner": found.owner,
            "owner_id": found.owner_id,
            "members_total": found.members_total,
            "members": [{"id": i, "type": t, "name": n} for i, t, n in found.members],
        }

    async def audit_log(self, request: Request, who: Principal) -> Any:
        q = request.query_params
        return await self.call(
            audit.list_events,
            self.db,
            org_id=self.org_of(request, who),
            since=parse_time(q.get("since")),
            until=parse_time(q.get("until")),
            category=q.get("category") or None,
            activity=q.get("activity") or None,
            limit=_int(q.get("limit"), 100, 10_000),
        )

    async def list_tokens(self, request: Request, who: Principal) -> Any:
        return await self.call(tokens.list_for, self.db, self.org_of(request, who))

    async def create_token(self, request: Request, who: Principal) -> Any:
        org_id = self.org_of(request, who, roles.CREDENTIALS)
        name = str((await body_of(request)).get("name") or "SCIM token")
        issued = await self.call(tokens.issue, self.db, org_id, name, actor=who.actor)
        return json_response({"token": issued.record, "secret": issued.secret}, 201)

    async def revoke_token(self, request: Request, who: Principal) -> Any:
        org_id = self.org_of(request, who, roles.CREDENTIALS)
        token_id = request.path_params["token"]
        return await self.call(tokens.revoke, self.db, token_id, actor=who.actor, org_id=org_id)

    async def debug(self, request: Request, who: Principal) -> Any:
        tracking_id = request.path_params["tracking_id"]
        bundle: dict[str, Any] = await self.call(
            debug_info.debug_info, self.db, self.settings, tracking_id
        )
        try:
            who.authorize(roles.READ, (bundle.get("org") or {}).get("id") or "")
        except IdsyncError as exc:
            if exc.error is ORG_NOT_FOUND:  # another org's: as if it did not exist
                raise IdsyncError(TRACKING_ID_NOT_FOUND, tracking_id=tracking_id) from None
            raise
        return bundle

    def routes(self) -> list[Route]:
        org = PREFIX + "/orgs/{org}"
        one = PREFIX + "/integrations/{integration}"
        table: dict[str, dict[str, Handler]] = {
            PREFIX + "/me": {"GET": self.me},
            PREFIX + "/orgs": {"GET": self.list_orgs},
            org: {"GET": self.get_org},
            org + "/directory-sync": {"PUT": self.directory_sync},
            org + "/integrations": {"GET": self.list_integrations, "POST": self.add_integration},
            org + "/findings": {"GET": self.org_findings},
            org + "/users": {"GET": self.people},
            org + "/groups": {"GET": self.people},
            org + "/users/{id}": {"GET": self.person},
            org + "/groups/{id}": {"GET": self.person},
            org + "/audit-log": {"GET": self.audit_log},
            org + "/tokens": {"GET": self.list_tokens, "POST": self.create_token},
            org + "/tokens/{token}": {"DELETE": self.revoke_token},
            one: {
                "GET": self.get_integration,
                "PATCH": self.update_integration,
                "DELETE": self.remove_integration,
            },
            **{f"{one}/{action}": {"POST": self.job_action} for action in JOB_ACTIONS},
            one + "/progress": {"GET": self.progress},
            one + "/cycles": {"GET": self.cycles},
            one + "/provisioning-log": {"GET": self.provisioning_log},
            one + "/finding": {"GET": self.finding},
            PREFIX + "/debug-info/{tracking_id}": {"GET": self.debug},
        }
        return [
            by_method(path, {m: self.endpoint(h) for m, h in handlers.items()})
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
