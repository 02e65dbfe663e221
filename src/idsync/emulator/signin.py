"""A person's sign-in: the authorization endpoint and the code it hands back.

The OAuth 2.0 authorization code flow with PKCE (RFC 7636), as the identity platform
runs it for a public client such as a command-line tool
(https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow):

* ``GET /{tenant}/oauth2/v2.0/authorize`` checks the client, its redirect URI (any port
  of ``http://localhost`` for a loopback client) and the PKCE challenge, then shows a
  sign-in page. ``POST`` to the same address checks the tenant administrator's name
  and password (the only account with a password here: ``admin_password`` in the
  emulator's JSON line) and sends the browser back with a one-time ``code``, as a
  redirect or, for ``response_mode=form_post`` (what msal asks for), a self-submitting
  form.
* The token endpoint redeems the code once (``grant_type=authorization_code``) against
  the same client, redirect URI and ``code_verifier``, and answers with a delegated
  access token (``scp``: the Graph permissions asked for), an ID token carrying the
  ``nonce``, and ``client_info``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from starlette.responses import HTMLResponse, RedirectResponse, Response

from idsync.emulator.context import Emulator
from idsync.emulator.directory import Application
from idsync.emulator.tokens import APP_TOKEN_LIFETIME

GRAPH_CLI_APP_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
"""Microsoft Graph Command Line Tools: a public client every tenant knows, whose
loopback redirect URI administrators' scripts sign in with."""
PUBLIC_CLIENTS = {GRAPH_CLI_APP_ID: "Microsoft Graph Command Line Tools"}
CODE_LIFETIME = 600
_OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_GRAPH_PREFIX = "https://graph.microsoft.com/"


class SignInRefused(Exception):
    """An AADSTS code and message, shown on the sign-in page or in the token answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def redirect_allowed(app: Application, uri: str) -> bool:
    """Exact match with a registered redirect URI, except that for ``http://localhost`` and
    ``http://127.0.0.1`` the port is ignored, as the platform does for loopback URIs
    (https://learn.microsoft.com/entra/identity-platform/reply-url#localhost-exceptions)."""
    if not uri:
        return False
    if uri in app.redirect_uris:
        return True
    asked = urlsplit(uri)
    if asked.scheme != "http" or asked.hostname not in ("localhost", "127.0.0.1"):
        return False
    for registered in app.redirect_uris:
        known = urlsplit(registered)
        if (
            known.scheme == "http"
            and known.hostname == asked.hostname
            and known.path == asked.path
            and known.query == asked.query
        ):
            return True
    return False


def loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1")


def check_request(
    emulator: Emulator, query: dict[str, str], registered: Application | None
) -> dict[str, str]:
    """What the authorization request asks for, once it may be shown a sign-in page."""
    client_id = query.get("client_id", "")
    if registered is None and client_id not in PUBLIC_CLIENTS:
        raise SignInRefused(
            700016, f"Application with identifier '{client_id}' was not found in the directory."
        )
    redirect_uri = query.get("redirect_uri", "")
    allowed = (
        loopback(redirect_uri) if registered is None else redirect_allowed(registered, redirect_uri)
    )
    if not allowed:
        raise SignInRefused(
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{client_id}'.",
        )
    if query.get("response_type") != "code":
        raise SignInRefused(
            700054, f"response_type '{query.get('response_type')}' is not enabled for the app."
        )
    if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
        raise SignInRefused(
            9002325, "Proof Key for Code Exchange is required for cross-origin authorization."
        )
    return {
        key: query.get(key, "")
        for key in (
            "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
            "response_mode", "login_hint",
        )
    }  # fmt: skip


def sign_in_page(asked: dict[str, str], handle: str, action: str, error: str = "") -> str:
    client = PUBLIC_CLIENTS.get(asked["client_id"], asked["client_id"])
    shown_error = f'<p id="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title>
<style>
body{{font-family:"Segoe UI",system-ui,sans-serif;background:#f2f2f2;margin:0}}
main{{background:#fff;max-width:440px;margin:48px auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}
h1{{font-size:24px;font-weight:600;margin:0 0 16px}} label{{display:block;margin:12px 0 4px}}
input{{width:100%;padding:6px;font-size:15px}} #error{{color:#e81123}}
button{{margin-top:24px;min-width:108px;padding:6px 12px;font-size:15px;background:#0067b8;color:#fff;border:0}}
</style></head>
<body><main>
<h1>Sign in</h1>
<p>to continue to <strong id="client">{html.escape(client)}</strong></p>
{shown_error}
<form method="post" action="{html.escape(action)}">
<input type="hidden" name="request" value="{html.escape(handle)}">
<label for="login">Email or phone</label>
<input id="login" name="login" type="email" autocomplete="username" value="{html.escape(asked["login_hint"])}">
<label for="passwd">Password</label>
<input id="passwd" name="passwd" type="password" autocomplete="current-password">
<button type="submit">Sign in</button>
</form>
</main></body></html>"""


def check_password(emulator: Emulator, login: str, password: str) -> dict[str, Any]:
    """The signed-in user (only the tenant administrator has a password here)."""
    directory = emulator.directory
    admin = directory.users[directory.admin_user_id].current or {}
    name_ok = login.lower() == str(admin.get("userPrincipalName", "")).lower()
    if not (name_ok and hmac.compare_digest(password.encode(), emulator.admin_password.encode())):
        raise SignInRefused(
            50126, "Error validating credentials due to invalid username or password."
        )
    return admin


def issue_code(emulator: Emulator, asked: dict[str, str], user: dict[str, Any]) -> str:
    code = secrets.token_urlsafe(32)
    now = time.time()
    emulator.codes = {k: v for k, v in emulator.codes.items() if v["expires"] > now}
    emulator.codes[code] = {**asked, "user_id": user["id"], "expires": now + CODE_LIFETIME}
    return code


def back_to_client(asked: dict[str, str], params: dict[str, str]) -> Response:
    """Where the browser goes with the code: a self-submitting form for ``form_post``."""
    if asked["state"]:
        params = {**params, "state": asked["state"]}
    uri = asked["redirect_uri"]
    if asked["response_mode"] != "form_post":
        separator = "&" if urlsplit(uri).query else "?"
        return RedirectResponse(f"{uri}{separator}{urlencode(params)}", status_code=302)
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Working...</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{html.escape(uri)}">{fields}
<noscript><button type="submit">Continue</button></noscript></form>
</body></html>"""
    )


def redeem(emulator: Emulator, form: dict[str, str], login_base: str) -> dict[str, Any]:
    """The token answer for a code (raises SignInRefused: ``invalid_grant``); the ID
    token's issuer is under ``login_base``, the address the client reached."""
    granted = emulator.codes.pop(form.get("code", ""), None)
    if granted is None or granted["expires"] < time.time():
        raise SignInRefused(
            70008, "The provided authorization code or refresh token has expired or was used."
        )
    if form.get("client_id") != granted["client_id"]:
        raise SignInRefused(70000, "The code was issued to another client.")
    if form.get("redirect_uri") != granted["redirect_uri"]:
        raise SignInRefused(
            70000, "The redirect URI does not match the one the code was issued for."
        )
    if _challenge(form.get("code_verifier", "")) != granted["code_challenge"]:
        raise SignInRefused(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the "
            "authorization request.",
        )
    directory = emulator.directory
    user = directory.users[granted["user_id"]].current or {}
    tenant = directory.tenant.id
    scopes = graph_scopes(granted["scope"])
    return {
        "token_type": "Bearer",
        "scope": " ".join(_GRAPH_PREFIX + scope for scope in scopes),
        "expires_in": APP_TOKEN_LIFETIME,
        "ext_expires_in": APP_TOKEN_LIFETIME,
        "access_token": emulator.tokens.user_token(
            tenant, granted["client_id"], user, scopes, APP_TOKEN_LIFETIME
        ),
        "refresh_token": secrets.token_urlsafe(48),
        "id_token": emulator.tokens.id_token(
            tenant, granted["client_id"], user, granted["nonce"], login_base
        ),
        "client_info": _b64(orjson.dumps({"uid": user["id"], "utid": tenant})),
    }


def graph_scopes(scope: str) -> list[str]:
    """The Graph permissions among the scopes asked for (``AuditLog.Read.All`` or
    ``https://graph.microsoft.com/AuditLog.Read.All``, or under the emulator's own
    address); OpenID Connect's own are not."""
    names = [s.rsplit("/", 1)[-1] for s in scope.split() if s not in _OIDC_SCOPES]
    return [name for name in names if name and name != ".default"]


def _challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
