"""Signing in (a password, or an OpenID Connect provider) and out."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from idsync.api.operators import (
    COOKIE,
    Principal,
    address_of,
    clear_session_cookie,
    set_session_cookie,
)
from idsync.console.pages import Console, notice, safe_next
from idsync.errors.catalogue import ENDPOINT_NOT_FOUND, IdsyncError
from idsync.manage import oidc, operators

OIDC_COOKIE = "idsync_oidc"


def login_page(c: Console, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
    provider = c.settings.oidc_name if oidc.enabled(c.settings) else None
    return c.render(request, "login.html", None, status, provider=provider, **values)


async def login_form(c: Console, request: Request) -> Response:
    return login_page(c, request, next=safe_next(request.query_params.get("next")))


async def login(c: Console, request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email") or "")
    target = safe_next(str(form.get("next") or ""))
    password = str(form.get("password") or "")
    try:
        signed = await c.call(
            operators.sign_in, c.db, c.settings, email, password, address_of(request)
        )
    except IdsyncError as exc:
        shown = notice(request, exc)
        return login_page(c, request, exc.error.status, next=target, email=email, error=shown)
    response = RedirectResponse(target or "/admin", status_code=303)
    set_session_cookie(response, signed.secret, c.settings)
    return response


async def logout(c: Console, request: Request, who: Principal) -> Response:
    secret = request.cookies.get(COOKIE)
    if secret:
        await c.call(operators.sign_out, c.db, secret, who.address)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session_cookie(response)
    return response


def _redirect_uri(c: Console) -> str:
    return c.settings.callback_base + oidc.CALLBACK_PATH


async def oidc_start(c: Console, request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    try:
        if not oidc.enabled(c.settings):
            raise IdsyncError(ENDPOINT_NOT_FOUND, path=request.url.path)
        started = await c.call(oidc.start, c.db, c.settings, _redirect_uri(c), target)
    except IdsyncError as exc:
        return login_page(c, request, exc.error.status, next=target, error=notice(request, exc))
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE, started.pending, max_age=oidc.PENDING_SECONDS, path=oidc.CALLBACK_PATH,
        httponly=True, samesite="lax", secure=c.settings.callback_base.startswith("https://"),
    )  # fmt: skip
    return response


async def oidc_callback(c: Console, request: Request) -> Response:
    try:
        signed, target = await c.call(
            oidc.finish, c.db, c.settings, dict(request.query_params),
            request.cookies.get(OIDC_COOKIE), _redirect_uri(c), address_of(request),
        )  # fmt: skip
    except IdsyncError as exc:
        response: Response = login_page(c, request, exc.error.status, error=notice(request, exc))
    else:
        response = RedirectResponse(safe_next(target) or "/admin", status_code=303)
        set_session_cookie(response, signed.secret, c.settings)
    response.delete_cookie(OIDC_COOKIE, path=oidc.CALLBACK_PATH)
    return response
