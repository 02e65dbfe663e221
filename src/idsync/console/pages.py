"""How a console page is drawn: the Jinja2 templates (autoescaped), the notification a
failing request shows, and :class:`Console`, which every page handler is given: the
database, the settings, the hub, and the steps every page shares (who asks, their org).

Every page names the operator first (``api/operators.py``) and checks its role for the
organisation it shows; a failing request renders a page with a notification: the
error's title, explanation, code and tracking ID, the finding it belongs to, and Copy
debug info.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from idsync.api.management import call_service
from idsync.api.operators import CSRF_FIELD, Principal, principal
from idsync.config import Settings
from idsync.errors.catalogue import (
    INTEGRATION_NOT_FOUND,
    ORG_NOT_FOUND,
    SESSION_REQUIRED,
    IdsyncError,
)
from idsync.hub.tenant import Hub
from idsync.manage import integrations, operators, orgs
from idsync.manage.database import Database
from idsync.manage.integrations import IntegrationRecord

_TEMPLATES = Environment(
    loader=PackageLoader("idsync.console", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
HEADERS = {
    "Cache-Control": "no-store",
    # Only our own files: no inline script, no other origin, not framed by another site.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
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

Handler = Callable[["Console", Request, Principal], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Console:
    def __init__(self, db: Database, settings: Settings, hub: Hub) -> None:
        self.db = db
        self.settings = settings
        self.hub = hub

    def render(
        self,
        request: Request,
        template: str,
        who: Principal | None,
        status: int = 200,
        /,
        **values: Any,
    ) -> HTMLResponse:
        body = _TEMPLATES.get_template(template).render(
            who=who,
            csrf_field=CSRF_FIELD,
            csrf_token=who.csrf_token if who else "",
            path=request.url.path,
            colour=STATUS_COLOUR,
            **values,
        )
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    call = staticmethod(call_service)  # the management API's: the service layer, off the loop

    def page(self, handler: Handler) -> Endpoint:
        """An endpoint for a signed-in operator's page: no session sends a browser to
        the sign-in page (and back); an error renders a page with its notification."""

        async def run(request: Request) -> Response:
            try:
                who = await principal(request, self.db)
            except IdsyncError as exc:
                if exc.error is SESSION_REQUIRED and request.method == "GET":
                    target = "/admin/login?" + urlencode({"next": str(request.url.path)})
                    return RedirectResponse(target, status_code=303)
                return self.error_page(request, None, exc)
            try:
                return await handler(self, request, who)
            except IdsyncError as exc:
                return self.error_page(request, who, exc)

        return run

    def error_page(self, request: Request, who: Principal | None, exc: IdsyncError) -> Response:
        shown = notice(request, exc)
        return self.render(request, "error.html", who, exc.error.status, error=shown)

    async def org_context(self, who: Principal, org_id: str) -> dict[str, Any]:
        """What every page of an organisation shows around itself (after the role check)."""
        who.authorize(operators.READ, org_id)
        every = await self.call(orgs.list_orgs, self.db)
        org = next((o for o in every if o.id == org_id), None)
        if org is None:
            org = await self.call(orgs.get_org, self.db, org_id)  # raises IDS-404-002
        mine = who.operator.org_id
        return {"org": org, "orgs": [o for o in every if mine is None or o.id == mine]}

    async def integration(self, request: Request, who: Principal) -> IntegrationRecord:
        """The integration the path names, if the operator may see its organisation."""
        ref = request.path_params["integration"]
        record: IntegrationRecord = await self.call(integrations.get_integration, self.db, ref)
        try:
            who.authorize(operators.READ, record.org_id)
        except IdsyncError as exc:  # another org's: as if it did not exist
            if exc.error is ORG_NOT_FOUND:
                raise IdsyncError(INTEGRATION_NOT_FOUND, integration=ref) from None
            raise
        return record


def notice(request: Request, exc: IdsyncError, integration_id: str | None = None) -> dict[str, Any]:
    """The notification of a failed request (templates/notice.html)."""
    info = request.scope.setdefault("state", {})
    info["error_code"] = exc.error.code
    finding = f"/admin/integrations/{integration_id}/finding" if integration_id else None
    return {
        "title": exc.error.title[:1].upper() + exc.error.title[1:],
        "message": exc.message,
        "action": exc.action,
        "code": exc.error.code,
        "tracking_id": info.get("tracking_id"),
        "finding_url": finding,
    }


def safe_next(target: str | None) -> str:
    """Only a path of the console: never another site (an open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return ""


def number(raw: str | None) -> int:
    try:
        return max(int(raw or 0), 0)
    except ValueError:
        return 0


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A resource's attributes as (path, text) rows, extension attributes under their URN."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            if key in ("schemas", "meta", "groups", "members") and not prefix:
                continue
            rows.extend(flatten(item, f"{prefix}.{key}" if prefix else key))
        return rows
    if isinstance(value, list):
        rows = []
        for index, item in enumerate(value):
            rows.extend(flatten(item, f"{prefix}[{index}]"))
        return rows
    return [(prefix, "" if value is None else str(value))]


def _listed(value: Any) -> Any:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else value


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


_TEMPLATES.filters["shown"] = _listed
_TEMPLATES.filters["console_action"] = _console_action
