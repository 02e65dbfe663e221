"""The Microsoft identity platform endpoints: token, OIDC discovery, instance discovery, admin consent.

* Token: client credentials with a shared secret,
  https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow —
  success ``{"token_type", "expires_in", "ext_expires_in", "access_token"}``; errors
  ``{"error", "error_description" ("AADSTSnnnn: …\\r\\nTrace ID: …\\r\\nCorrelation ID: …
  \\r\\nTimestamp: …"), "error_codes", "timestamp", "trace_id", "correlation_id",
  "error_uri"}`` with the AADSTS codes of
  https://learn.microsoft.com/entra/identity-platform/reference-error-codes.
* Discovery: what msal reads before asking for a token —
  ``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/common/discovery/instance``.
* Admin consent: https://learn.microsoft.com/entra/identity-platform/v2-admin-consent —
  a consent page; Accept grants the app's permissions (creating its service principal
  if the tenant has none) and redirects with ``admin_consent=True&tenant=…&state=…``;
  Cancel redirects with ``error=access_denied&error_subcode=cancel`` and AADSTS65004.
"""

from __future__ import annotations

import base64
import html
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idsync.emulator import certificates, signin
from idsync.emulator.audit import Actor
from idsync.emulator.context import Emulator
from idsync.emulator.directory import GRAPH_APP_ID, Application, Directory
from idsync.emulator.permissions import describe
from idsync.emulator.responses import base_url, json_response, oauth_error_body, request_ids
from idsync.emulator.signin import redirect_allowed
from idsync.emulator.tokens import APP_TOKEN_LIFETIME

NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
GRAPH_RESOURCES = ("https://graph.microsoft.com", GRAPH_APP_ID)


class LoginApi:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.directory = emulator.directory

    def _tenant_known(self, tenant: str) -> bool:
        t = self.directory.tenant
        return tenant.lower() in (t.id, t.domain, t.initial_domain)

    def _oauth_error(
        self,
        request: Request,
        status: int,
        error: str,
        code: int,
        message: str,
    ) -> Response:
        body = oauth_error_body(request.scope, error, code, message)
        body["error_uri"] = f"{base_url(request)}/error?code={code}"
        return json_response(
            body,
            status,
            NO_STORE,
            "application/json; charset=utf-8",
        )

    def _unknown_tenant(
        self, request: Request, tenant: str, error: str = "invalid_request"
    ) -> Response:
        return self._oauth_error(
            request,
            400,
            error,
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud. Check with your subscription "
            "administrator, this may happen if there are no active subscriptions for the tenant.",
        )

    # ----- token endpoint --------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self._tenant_known(tenant):
            return self._unknown_tenant(request, tenant)
        form = {
            k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()
        }
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            # RFC 6749 §2.3.1 client authentication, which the docs say Entra accepts too.
            try:
                decoded = base64.b64decode(basic[6:]).decode()
                client_id, _, client_secret = decoded.partition(":")
            except ValueError:
                pass
        if form.get("grant_type") == "authorization_code":
            try:
                answer = signin.redeem(self.emulator, form, base_url(request))
            except signin.SignInRefused as exc:
                return self._oauth_error(request, 400, "invalid_grant", exc.code, exc.message)
            return json_response(
                answer, headers=NO_STORE, media_type="application/json; charset=utf-8"
            )
        if form.get("grant_type") != "client_credentials":
            if not form.get("grant_type"):
                return self._missing(request, "grant_type")
            return self._oauth_error(
                request,
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type')}'.",
            )
        if not client_id:
            return self._missing(request, "client_id")
        app = self.directory.apps.get(client_id)
        if app is None:
            return self._oauth_error(
                request,
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.directory.tenant.display_name}'. This can happen if the application has "
                "not been installed by the administrator of the tenant or consented to by any "
                "user in the tenant. You may have sent your authentication request to the wrong "
                "tenant.",
            )
        scope = form.get("scope")
        if not scope:
            return self._missing(request, "scope")
        if not self._graph_scope(request, scope):
            return self._scope_error(request, scope)
        assertion = form.get("client_assertion")
        if assertion:
            try:
                if form.get("client_assertion_type") != certificates.JWT_BEARER:
                    raise certificates.AssertionRefused(
                        50027, "The client_assertion_type must be " + certificates.JWT_BEARER
                    )
                endpoints = {
                    f"{base_url(request)}{request.url.path}",
                    f"{base_url(request)}/{self.directory.tenant.id}/oauth2/v2.0/token",
                }
                certificates.check_assertion(app, assertion, endpoints)
            except certificates.AssertionRefused as exc:
                return self._oauth_error(request, 401, "invalid_client", exc.code, exc.message)
        elif not client_secret:
            return self._oauth_error(
                request,
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        elif not app.secret_matches(client_secret):
            return self._oauth_error(
                request,
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{app.app_id}'.",
            )
        sp = self.directory.sp_for_app(app.app_id)
        if sp is None:
            # Status 401 as Entra answers it (observed responses carry 401 with this code).
            return self._oauth_error(
                request,
                401,
                "invalid_client",
                7000229,
                f"The client application {app.app_id} is missing service principal in the "
                f"tenant {self.directory.tenant.id}. See instructions here: "
                "https://go.microsoft.com/fwlink/?linkid=2225119",
            )
        if not sp.enabled:
            return self._oauth_error(
                request,
                400,
                "unauthorized_client",
                7000112,
                f"Application '{app.app_id}'({app.display_name}) is disabled.",
            )
        if app.secret_expired and not assertion:
            return self._oauth_error(
                request,
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{app.app_id}' are expired. Visit the "
                "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
                "consider using certificate credentials for added security: "
                "https://aka.ms/certCreds.",
            )
        access_token = self.emulator.tokens.app_token(
            self.directory.tenant.id, app.app_id, sp.id, list(sp.granted), app.display_name
        )
        return json_response(
            {
                "token_type": "Bearer",
                "expires_in": APP_TOKEN_LIFETIME,
                "ext_expires_in": APP_TOKEN_LIFETIME,
                "access_token": access_token,
            },
            headers=NO_STORE,
            media_type="application/json; charset=utf-8",
        )

    def _missing(self, request: Request, name: str) -> Response:
        return self._oauth_error(
            request,
            400,
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: '{name}'.",
        )

    def _graph_scope(self, request: Request, scope: str) -> bool:
        """Client credentials take exactly one ``{resource}/.default`` scope: Graph's."""
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return False
        resource = scopes[0][: -len("/.default")].rstrip("/")
        return resource in (*GRAPH_RESOURCES, base_url(request))

    def _scope_error(self, request: Request, scope: str) -> Response:
        scopes = scope.split()
        if len(scopes) == 1 and scopes[0].endswith("/.default"):
            resource = scopes[0][: -len("/.default")]
            return self._oauth_error(
                request,
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{self.directory.tenant.display_name}. This can happen if the application has "
                "not been installed by the administrator of the tenant or consented to by any "
                "user in the tenant. You might have sent your authentication request to the "
                "wrong tenant.",
            )
        return self._oauth_error(
            request,
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )

    # ----- discovery -------------------------------------------------------------------

    async def openid_configuration(self, request: Request) -> Response:
        """https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc"""
        tenant = request.path_params["tenant"]
        generic = tenant.lower() in ("common", "organizations")
        if not generic and not self._tenant_known(tenant):
            return self._unknown_tenant(request, tenant, "invalid_tenant")
        tid = "{tenantid}" if generic else self.directory.tenant.id
        path_tenant = tenant if generic else self.directory.tenant.id
        base = base_url(request)
        login = f"{base}/{path_tenant}"
        return json_response(
            {
                "token_endpoint": f"{login}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{path_tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "authorization_endpoint": f"{login}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{login}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{login}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "cloud_instance_name",
                    "cloud_instance_host_name",
                    "cloud_graph_host_name",
                    "msgraph_host",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "acr",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "at_hash",
                    "c_hash",
                    "email",
                ],
                "kerberos_endpoint": f"{login}/kerberos",
                "tenant_region_scope": "NA",
                "cloud_instance_name": urlsplit(base).hostname,
                "cloud_graph_host_name": urlsplit(base).netloc,
                "msgraph_host": urlsplit(base).netloc,
                "rbac_url": base,
            },
            media_type="application/json; charset=utf-8",
        )

    async def instance_discovery(self, request: Request) -> Response:
        """msal's instance discovery (``/common/discovery/instance?api-version=1.1&authorization_endpoint=…``)."""
        endpoint = request.query_params.get("authorization_endpoint", "")
        base = base_url(request)
        parts = urlsplit(endpoint)
        tenant = (parts.path.strip("/").split("/") or ["common"])[0] or "common"
        if parts.netloc and parts.netloc != request.url.netloc:
            trace_id, correlation_id = request_ids(request.scope)
            return json_response(
                {
                    "error": "invalid_instance",
                    "error_description": f"AADSTS50049: Unknown or invalid instance.\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}",
                    "error_codes": [50049],
                    "trace_id": trace_id,
                    "correlation_id": correlation_id,
                },
                400,
                media_type="application/json; charset=utf-8",
            )
        host = request.url.netloc
        return json_response(
            {
                "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [
                    {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
                ],
            },
            media_type="application/json; charset=utf-8",
        )

    async def jwks(self, request: Request) -> Response:
        # ID tokens are RS256-signed with this key; access tokens are HMAC-signed and
        # validated by the emulator alone (clients treat them as opaque).
        return json_response(
            self.emulator.tokens.jwks(), media_type="application/json; charset=utf-8"
        )

    # ----- a person's sign-in (signin.py) ------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self._tenant_known(tenant):
            return self._error_page(request, 90002, f"Tenant '{tenant}' not found.")
        query = dict(request.query_params)
        try:
            asked = signin.check_request(
                self.emulator, query, self.directory.apps.get(query.get("client_id", ""))
            )
        except signin.SignInRefused as exc:
            return self._error_page(request, exc.code, exc.message)
        handle = secrets.token_urlsafe(16)
        pending = self.emulator.pending_signins
        pending[handle] = asked
        while len(pending) > 1000:
            pending.pop(next(iter(pending)))
        return HTMLResponse(signin.sign_in_page(asked, handle, request.url.path))

    async def sign_in(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        handle = form.get("request", "")
        asked = self.emulator.pending_signins.get(handle)
        if asked is None:
            return self._error_page(
                request, 90014, "The sign-in request is unknown or was already answered."
            )
        try:
            user = signin.check_password(
                self.emulator, form.get("login", ""), form.get("passwd", "")
            )
        except signin.SignInRefused as exc:
            page = signin.sign_in_page(
                asked, handle, request.url.path, f"AADSTS{exc.code}: {exc.message}"
            )
            return HTMLResponse(page)
        self.emulator.pending_signins.pop(handle, None)
        code = signin.issue_code(self.emulator, asked, user)
        return signin.back_to_client(asked, {"code": code, "session_state": str(uuid.uuid4())})

    # ----- admin consent -----------------------------------------------------------------

    async def consent_page(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        query = request.query_params
        if not self._tenant_known(tenant) and tenant.lower() != "organizations":
            return self._error_page(request, 90002, f"Tenant '{html.escape(tenant)}' not found.")
        client_id = query.get("client_id", "")
        if not client_id:
            return self._error_page(
                request,
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        app = self.directory.apps.get(client_id)
        if app is None:
            return self._error_page(
                request,
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.directory.tenant.display_name}'. This can happen if the application has "
                "not been installed by the administrator of the tenant or consented to by any "
                "user in the tenant. You may have sent your authentication request to the wrong "
                "tenant.",
            )
        redirect_uri = query.get("redirect_uri") or (
            app.redirect_uris[0] if app.redirect_uris else ""
        )
        if not redirect_allowed(app, redirect_uri):
            return self._error_page(
                request,
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the "
                f"redirect URIs configured for the application '{app.app_id}'. Make sure the "
                "redirect URI sent in the request matches one added to your application in the "
                "Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more "
                "about how to fix this.",
            )
        handle = secrets.token_urlsafe(16)
        pending = self.emulator.pending_consents
        pending[handle] = {
            "client_id": app.app_id,
            "redirect_uri": redirect_uri,
            "state": query.get("state", ""),
            "scope": query.get("scope", ""),
        }
        while len(pending) > 1000:
            pending.pop(next(iter(pending)))
        return HTMLResponse(self._render_consent(request, app, handle))

    def _render_consent(self, request: Request, app: Application, handle: str) -> str:
        tenant = self.directory.tenant
        admin = self.directory.users[self.directory.admin_user_id].current or {}
        rows = "".join(
            f"<li><strong>{html.escape(describe(p))}</strong>"
            f" <span class='perm'>({html.escape(p)}, Microsoft Graph, application permission)</span></li>"
            for p in app.permissions
        )
        action = html.escape(request.url.path)
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Permissions requested</title>
<style>
body{{font-family:"Segoe UI",system-ui,sans-serif;background:#f2f2f2;margin:0}}
main{{background:#fff;max-width:440px;margin:48px auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}
h1{{font-size:24px;font-weight:600;margin:0 0 16px}} .perm{{color:#666;font-size:13px}}
.who{{color:#444;font-size:14px}} ul{{padding-left:20px}} li{{margin:8px 0}}
.buttons{{display:flex;justify-content:flex-end;gap:8px;margin-top:24px}}
button{{min-width:108px;padding:6px 12px;font-size:15px;border:1px solid #8c8c8c;background:#fff}}
button.primary{{background:#0067b8;color:#fff;border-color:#0067b8}}
</style></head>
<body><main>
<div class="who">{html.escape(admin.get("userPrincipalName", ""))}</div>
<h1>Permissions requested</h1>
<p>Review for your organization</p>
<p><strong id="app-name">{html.escape(app.display_name)}</strong><br>
<span class="perm">Publisher: {html.escape(tenant.display_name)} ({html.escape(app.publisher_domain)}), unverified</span><br>
<span class="perm">Application (client) ID: {html.escape(app.app_id)}</span></p>
<p>This app would like to:</p>
<ul id="permissions">{rows}</ul>
<p class="perm">If you accept, this app will get access to the specified resources for all
users in <strong>{html.escape(tenant.display_name)}</strong> ({html.escape(tenant.id)}).
No one else will be prompted to review these permissions.</p>
<form method="post" action="{action}" class="buttons">
<input type="hidden" name="request" value="{html.escape(handle)}">
<button type="submit" name="decision" value="cancel">Cancel</button>
<button type="submit" name="decision" value="accept" class="primary">Accept</button>
</form>
</main></body></html>"""

    def _error_page(self, request: Request, code: int, message: str) -> Response:
        trace_id, correlation_id = request_ids(request.scope)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Displayed errors use HTTP 200, as the identity platform's error pages do.
        return HTMLResponse(
            f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title></head>
<body><main>
<h1>Sorry, but we're having trouble signing you in.</h1>
<p id="error">AADSTS{code}: {html.escape(message)}</p>
<p class="details">Request Id: {html.escape(trace_id)}<br>Correlation Id: {html.escape(correlation_id)}<br>
Timestamp: {stamp}</p>
</main></body></html>"""
        )

    async def consent_decision(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        pending = self.emulator.pending_consents.pop(form.get("request", ""), None)
        if pending is None:
            return self._error_page(
                request,
                90014,
                "The consent request is unknown or was already answered. Start again from the "
                "admin consent link.",
            )
        app = self.directory.apps[pending["client_id"]]
        if form.get("decision") != "accept":
            trace_id, correlation_id = request_ids(request.scope)
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            params: dict[str, str] = {
                "admin_consent": "True",
                "error": "access_denied",
                "error_subcode": "cancel",
                "error_description": (
                    "AADSTS65004: User declined to consent to access the app.\r\n"
                    f"Trace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}"
                ),
            }
            if pending["state"]:
                params["state"] = pending["state"]
            return _redirect(pending["redirect_uri"], params)
        address = request.client.host if request.client else "127.0.0.1"
        return RedirectResponse(grant_consent(self.directory, app, pending, address), 302)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/common/discovery/instance", self.instance_discovery, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
            Route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                self.openid_configuration,
                methods=["GET"],
            ),
            Route(
                "/{tenant}/.well-known/openid-configuration",
                self.openid_configuration,
                methods=["GET"],
            ),
            Route("/{tenant}/discovery/v2.0/keys", self.jwks, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self.authorize, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self.sign_in, methods=["POST"]),
            Route("/{tenant}/adminconsent", self.consent_page, methods=["GET"]),
            Route("/{tenant}/v2.0/adminconsent", self.consent_page, methods=["GET"]),
            Route("/{tenant}/adminconsent", self.consent_decision, methods=["POST"]),
            Route("/{tenant}/v2.0/adminconsent", self.consent_decision, methods=["POST"]),
        ]


def grant_consent(
    directory: Directory, app: Application, asked: dict[str, str], address: str
) -> str:
    """What Accept does, as the tenant's administrator: consent (re-creating the service
    principal), then where the browser goes: ``redirect_uri`` with ``admin_consent``,
    ``tenant``, and the ``scope`` and ``state`` asked for."""
    admin = directory.users[directory.admin_user_id].current or {}
    actor = Actor(
        "user",
        admin.get("id", ""),
        admin.get("displayName", ""),
        user_principal_name=admin.get("userPrincipalName"),
        ip_address=address,
        correlation=str(uuid.uuid4()),
    )
    directory.consent(app, actor)
    params = {"admin_consent": "True", "tenant": directory.tenant.id}
    for name in ("scope", "state"):
        if asked.get(name):
            params[name] = asked[name]
    uri = asked["redirect_uri"]
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{urlencode(params)}"


def _redirect(uri: str, params: dict[str, Any]) -> Response:
    separator = "&" if urlsplit(uri).query else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(params)}", status_code=302)
