"""The organisation's SCIM tokens: what a directory presents to provision into idsync
(the hub side of the incident: a revoked or expired one is replaced here)."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idsync.api.operators import Principal
from idsync.console.pages import Console, notice, number
from idsync.errors.catalogue import IdsyncError
from idsync.manage import health, operators, tokens

SHOWN_COOKIE = "idsync_new_token"


async def tokens_page(
    c: Console, request: Request, who: Principal, status: int = 200, **extra: object
) -> Response:
    context = await c.org_context(who, request.path_params["org"])
    org_id = context["org"].id
    listed = await c.call(tokens.list_for, c.db, org_id)
    refused = await c.call(health.inbound_findings, c.db, org_id=org_id)
    sealed = request.cookies.get(SHOWN_COOKIE)
    issued = await c.call(tokens.open_for_showing, c.db, c.settings, sealed) if sealed else None
    response = c.render(
        request, "tokens.html", who, status, title="SCIM tokens", tokens=listed,
        refused=refused, issued=issued, **extra, **context,
    )  # fmt: skip
    if sealed:  # shown once: gone from the browser with this answer
        response.delete_cookie(SHOWN_COOKIE, path=_path(org_id))
    return response


def _path(org_id: str) -> str:
    return f"/admin/orgs/{org_id}/tokens"


async def create(c: Console, request: Request, who: Principal) -> Response:
    org_id = request.path_params["org"]
    who.authorize(operators.CREDENTIALS, org_id)
    form = await request.form()
    days = number(str(form.get("expires_in_days") or ""))
    name = str(form.get("name") or "").strip() or "SCIM token"
    try:
        issued = await c.call(
            tokens.issue, c.db, org_id, name, actor=who.actor,
            expires_in=timedelta(days=days) if days else None,
        )  # fmt: skip
    except IdsyncError as exc:
        return await tokens_page(c, request, who, exc.error.status, error=notice(request, exc))
    # Post/Redirect/Get: the token comes back once, sealed, in a cookie only this page
    # receives (a reload of the page must not make another token).
    sealed = await c.call(tokens.seal_for_showing, c.db, c.settings, issued)
    response = RedirectResponse(_path(org_id), status_code=303)
    response.set_cookie(
        SHOWN_COOKIE, sealed, max_age=tokens.SHOWN_SECONDS, path=_path(org_id), httponly=True,
        samesite="strict", secure=c.settings.callback_base.startswith("https://"),
    )  # fmt: skip
    return response


async def revoke(c: Console, request: Request, who: Principal) -> Response:
    org_id = request.path_params["org"]
    who.authorize(operators.CREDENTIALS, org_id)
    token_id = request.path_params["token"]
    await c.call(tokens.revoke, c.db, token_id, actor=who.actor, org_id=org_id)
    return RedirectResponse(_path(org_id), status_code=303)
