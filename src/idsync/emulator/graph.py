"""Microsoft Graph v1.0: the slice idsync uses, under ``/v1.0/``.

Users and groups (list, get, create, update, delete, delta), group members and managers
(``$ref``), service principals, the directory audit log and the organization. Each
handler cites the Graph reference page whose behaviour it reproduces; shapes and error
codes are Graph's (https://learn.microsoft.com/graph/errors).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from idsync.emulator import certificates
from idsync.emulator import permissions as perms
from idsync.emulator.audit import Actor
from idsync.emulator.context import Emulator
from idsync.emulator.delta import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursor, SyncStateError
from idsync.emulator.directory import Application, Kind, State, not_found
from idsync.emulator.filters import FilterError, parse_filter
from idsync.emulator.objects import (
    GROUP_DEFAULT,
    USER_DEFAULT,
    check_write,
    parse_select,
    project,
    properties,
)
from idsync.emulator.responses import GraphError, base_url, graph_error, json_response
from idsync.emulator.tokens import Principal, TokenError

Handler = Callable[[Request], Awaitable[Response]]

# What Graph sends with a 401 (https://learn.microsoft.com/graph/errors).
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
_REF = re.compile(
    r"^https://(?P<host>[^/]+)/(?:v1\.0|beta)/(?:directoryObjects|users|groups|servicePrincipals)/(?P<id>[^/?#]+)$"
)
_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


def _page_size(prefer: str | None) -> tuple[int, int | None]:
    """Page size from ``Prefer: odata.maxpagesize=N`` (1..999), and the applied value."""
    match = _MAXPAGESIZE.search(prefer or "")
    if not match:
        return DEFAULT_PAGE_SIZE, None
    size = max(1, min(MAX_PAGE_SIZE, int(match.group(1))))
    return size, size


def _top(value: str | None, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise GraphError(400, "BadRequest", f"Invalid page size specified: '{value}'.")
    if int(value) > maximum:
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            f"Invalid page size specified: '{value}'. Must be between 1 and {maximum} inclusive.",
        )
    return int(value)


def _next_query(query: Any, token: str) -> str:
    """The request's query with its ``$skiptoken`` replaced: nextLinks are complete URLs."""
    pairs = [(k, v) for k, v in query.multi_items() if k != "$skiptoken"]
    pairs.append(("$skiptoken", token))
    return urlencode(pairs, safe="$,'()/:", quote_via=quote)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            "payload is of valid JSON format.",
        ) from exc


class GraphApi:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.directory = emulator.directory

    # ----- authentication and authorisation ------------------------------------------

    def principal(self, request: Request, needed: frozenset[str]) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        unauthorized = {"WWW-Authenticate": WWW_AUTHENTICATE}
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token is empty.", unauthorized
            )
        try:
            principal = self.emulator.tokens.validate(token.strip(), self.directory.tenant.id)
        except TokenError as exc:
            raise GraphError(401, "InvalidAuthenticationToken", str(exc), unauthorized) from exc
        if principal.kind == "app":
            sp = self.directory.service_principals.get(principal.object_id)
            if sp is None or sp.app_id != principal.app_id:
                # The app's service principal was deleted (or re-created by a new consent):
                # Entra no longer accepts tokens issued to it.
                raise GraphError(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token validation failure. The service principal the token was "
                    f"issued to no longer exists in tenant '{principal.tenant_id}'.",
                    unauthorized,
                )
        else:
            user = self.directory.users.get(principal.object_id)
            state = user.current if user else None
            if state is None or not state.get("accountEnabled", True):
                raise GraphError(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token validation failure. The user is disabled or deleted.",
                    unauthorized,
                )
        if not principal.permissions & needed:
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        return principal

    def actor(self, request: Request, principal: Principal) -> Actor:
        correlation = request.scope.get("state", {}).get("client_request_id")
        client = request.client.host if request.client else "127.0.0.1"
        if principal.kind == "app":
            sp = self.directory.service_principals[principal.object_id]
            return Actor(
                "app",
                sp.id,
                sp.display_name,
                app_id=sp.app_id,
                ip_address=client,
                **({"correlation": correlation} if correlation else {}),
            )
        state = self.directory.users[principal.object_id].current or {}
        return Actor(
            "user",
            principal.object_id,
            state.get("displayName", ""),
            user_principal_name=state.get("userPrincipalName"),
            ip_address=client,
            **({"correlation": correlation} if correlation else {}),
        )

    def reference(self, request: Request, body: Any) -> str:
        """The object id in a ``{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}``."""
        value = body.get("@odata.id") if isinstance(body, dict) else None
        match = _REF.match(value) if isinstance(value, str) else None
        own_host = request.url.netloc
        if match is None or match.group("host") not in ("graph.microsoft.com", own_host):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid URL format specified in @odata.id: expected "
                "https://graph.microsoft.com/v1.0/directoryObjects/{id}.",
            )
        return match.group("id")

    # ----- delta (https://learn.microsoft.com/graph/api/user-delta, group-delta) -----

    async def users_delta(self, request: Request) -> Response:
        return self._delta(request, "users")

    async def groups_delta(self, request: Request) -> Response:
        return self._delta(request, "groups")

    def _delta(self, request: Request, kind: Kind) -> Response:
        self.principal(request, perms.READ_USERS if kind == "users" else perms.READ_GROUPS)
        emulator, directory = self.emulator, self.directory
        query = request.query_params
        base = base_url(request)
        prefer = request.headers.get("prefer", "")
        size, applied = _page_size(prefer)
        minimal = "return=minimal" in prefer.lower()
        epoch = directory.delta_epoch
        now = int(time.time())
        try:
            skip = query.get("$skiptoken")
            if skip is not None:
                # Delta queries with both $select and $skiptoken are not supported: the
                # token already carries the round's $select.
                cursor = emulator.codec.read_skip_token(skip, kind, epoch)
            else:
                select = parse_select(kind, query.get("$select"))
                state = query.get("$deltatoken") or query.get("$deltaToken")
                if state == "latest":
                    # "Sync from now": no objects, just a deltaLink from the current state.
                    link = emulator.codec.delta_token(kind, select, directory.seq, epoch, now)
                    return json_response(
                        {
                            "@odata.context": f"{base}/v1.0/$metadata#{kind}",
                            "@odata.deltaLink": f"{base}/v1.0/{kind}/delta?$deltatoken={link}",
                            "value": [],
                        }
                    )
                if state:
                    token_select, watermark, _ = emulator.codec.read_delta_token(state, kind, epoch)
                    if query.get("$select") is None:
                        select = token_select
                    cursor = Cursor(kind, select, watermark, directory.seq, 0, 0, size, epoch, now)
                else:
                    cursor = Cursor(kind, select, -1, directory.seq, 0, 0, size, epoch, now)
        except SyncStateError as exc:
            location = f"{base}/v1.0/{kind}/delta?"
            if exc.select:
                location += f"$select={','.join(exc.select)}&"
            return graph_error(
                request, 410, exc.code, exc.message, {"Location": location + "$deltatoken="}
            )
        items, following = emulator.pager.page(cursor, minimal)
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#{kind}"}
        if following is not None:
            token = emulator.codec.skip_token(following)
            body["@odata.nextLink"] = f"{base}/v1.0/{kind}/delta?$skiptoken={token}"
        else:
            # Issued-at = the round's start, so a replayed last page is byte-identical.
            token = emulator.codec.delta_token(
                kind, cursor.select, cursor.until, cursor.epoch, cursor.started
            )
            body["@odata.deltaLink"] = f"{base}/v1.0/{kind}/delta?$deltatoken={token}"
        body["value"] = items
        headers = {"Preference-Applied": f"odata.maxpagesize={applied}"} if applied else None
        return json_response(body, headers=headers)

    # ----- collections (https://learn.microsoft.com/graph/api/user-list, group-list) --

    def _list(
        self,
        request: Request,
        kind: Kind,
        render: Callable[[State], dict[str, Any]],
    ) -> Response:
        query = request.query_params
        top = _top(query.get("$top"))
        predicate = self._filter(query.get("$filter"))
        start = self._list_position(query.get("$skiptoken"), kind)
        directory = self.directory
        items: list[dict[str, Any]] = []
        ids = directory.order[kind]
        pos = start
        while pos < len(ids) and len(items) < top:
            obj = directory.users[ids[pos]] if kind == "users" else directory.groups[ids[pos]].obj
            state = obj.current
            pos += 1
            if state is not None and (predicate is None or predicate(state)):
                items.append(render(state))
        base = base_url(request)
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#{kind}"}
        if pos < len(ids):
            token = self.emulator.codec.list_token(kind, pos)
            body["@odata.nextLink"] = f"{base}/v1.0/{kind}?{_next_query(query, token)}"
        body["value"] = items
        return json_response(body)

    def _list_position(self, token: str | None, kind: str) -> int:
        if token is None:
            return 0
        try:
            return self.emulator.codec.read_list_token(token, kind)
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Invalid $skiptoken.") from exc

    @staticmethod
    def _filter(text: str | None) -> Callable[[dict[str, Any]], bool] | None:
        if text is None:
            return None
        try:
            return parse_filter(text, time_fields=("createdDateTime", "activityDateTime"))
        except FilterError as exc:
            raise GraphError(400, "BadRequest", str(exc)) from exc

    async def list_users(self, request: Request) -> Response:
        self.principal(request, perms.READ_USERS)
        props = properties("users", parse_select("users", request.query_params.get("$select")))
        return self._list(request, "users", lambda s: project(s, props, nulls=True))

    async def list_groups(self, request: Request) -> Response:
        self.principal(request, perms.READ_GROUPS)
        props = properties("groups", parse_select("groups", request.query_params.get("$select")))
        return self._list(request, "groups", lambda s: project(s, props, nulls=True))

    # ----- users (https://learn.microsoft.com/graph/api/resources/user) ---------------

    async def get_user(self, request: Request) -> Response:
        self.principal(request, perms.READ_USERS)
        state = self.directory.user(request.path_params["id"]).current or {}
        props = properties("users", parse_select("users", request.query_params.get("$select")))
        body = {
            "@odata.context": f"{base_url(request)}/v1.0/$metadata#users/$entity",
            **project(state, props, nulls=True),
        }
        return json_response(body)

    async def create_user(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/user-post-users"""
        principal = self.principal(request, perms.WRITE_USERS)
        body = await _json_body(request)
        props = check_write("users", body, creating=True, extra_allowed=("passwordProfile",))
        profile = body.get("passwordProfile")
        if not isinstance(profile, dict) or not isinstance(profile.get("password"), str):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'passwordProfile' of resource 'User'.",
            )
        self._check_upn_domain(props["userPrincipalName"])
        state = self.directory.create_user(props, self.actor(request, principal))
        base = base_url(request)
        return json_response(
            {
                "@odata.context": f"{base}/v1.0/$metadata#users/$entity",
                **project(state, USER_DEFAULT, nulls=True),
            },
            status=201,
            headers={"Location": f"{base}/v1.0/users/{state['id']}"},
        )

    def _check_upn_domain(self, upn: str) -> None:
        tenant = self.directory.tenant
        _, _, domain = upn.rpartition("@")
        if domain.lower() not in (tenant.domain, tenant.initial_domain):
            raise GraphError(
                400,
                "Request_BadRequest",
                "The domain portion of the userPrincipalName property is invalid. You must use "
                "one of the verified domain names in your organization.",
            )

    async def update_user(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/user-update"""
        principal = self.principal(request, perms.WRITE_USERS)
        body = await _json_body(request)
        changes = check_write("users", body, creating=False, extra_allowed=("passwordProfile",))
        if "userPrincipalName" in changes:
            self._check_upn_domain(changes["userPrincipalName"])
        user = self.directory.user(request.path_params["id"])
        if changes:
            self.directory.update_user(user.id, changes, self.actor(request, principal))
        return Response(status_code=204)

    async def delete_user(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/user-delete (soft delete: deleted items)."""
        principal = self.principal(request, perms.WRITE_USERS)
        user = self.directory.user(request.path_params["id"])
        self.directory.delete_user(user.id, self.actor(request, principal))
        return Response(status_code=204)

    async def purge(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/directory-deleteditems-delete"""
        principal = self.principal(request, perms.WRITE_USERS)
        self.directory.purge_user(request.path_params["id"], self.actor(request, principal))
        return Response(status_code=204)

    async def get_manager(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/user-list-manager"""
        self.principal(request, perms.READ_USERS)
        state = self.directory.user(request.path_params["id"]).current or {}
        manager = state.get("manager")
        if not manager:
            raise not_found("manager")
        manager_state = self.directory.users[manager].current or {}
        props = properties("users", parse_select("users", request.query_params.get("$select")))
        return json_response(
            {
                "@odata.context": f"{base_url(request)}/v1.0/$metadata#directoryObjects/$entity",
                "@odata.type": "#microsoft.graph.user",
                **project(manager_state, props, nulls=True),
            }
        )

    async def set_manager(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/user-post-manager"""
        principal = self.principal(request, perms.WRITE_USERS)
        manager = self.reference(request, await _json_body(request))
        if manager not in self.directory.users:
            raise not_found(manager)
        user = self.directory.user(request.path_params["id"])
        self.directory.set_manager(user.id, manager, self.actor(request, principal))
        return Response(status_code=204)

    async def remove_manager(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/user-delete-manager"""
        principal = self.principal(request, perms.WRITE_USERS)
        user = self.directory.user(request.path_params["id"])
        self.directory.set_manager(user.id, None, self.actor(request, principal))
        return Response(status_code=204)

    # ----- groups (https://learn.microsoft.com/graph/api/resources/group) -------------

    async def get_group(self, request: Request) -> Response:
        self.principal(request, perms.READ_GROUPS)
        state = self.directory.group(request.path_params["id"]).obj.current or {}
        props = properties("groups", parse_select("groups", request.query_params.get("$select")))
        return json_response(
            {
                "@odata.context": f"{base_url(request)}/v1.0/$metadata#groups/$entity",
                **project(state, props, nulls=True),
            }
        )

    async def create_group(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/group-post-groups"""
        principal = self.principal(request, perms.WRITE_GROUPS)
        body = await _json_body(request)
        props = check_write(
            "groups",
            body,
            creating=True,
            extra_allowed=("members@odata.bind", "owners@odata.bind"),
        )
        binds = body.get("members@odata.bind") or []
        if not isinstance(binds, list):
            raise GraphError(400, "Request_BadRequest", "members@odata.bind must be an array.")
        members = [self.reference(request, {"@odata.id": url}) for url in binds]
        if props.get("mailEnabled"):
            props["mail"] = f"{props['mailNickname']}@{self.directory.tenant.domain}"
        state = self.directory.create_group(props, members, self.actor(request, principal))
        base = base_url(request)
        return json_response(
            {
                "@odata.context": f"{base}/v1.0/$metadata#groups/$entity",
                **project(state, GROUP_DEFAULT, nulls=True),
            },
            status=201,
            headers={"Location": f"{base}/v1.0/groups/{state['id']}"},
        )

    async def update_group(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/group-update"""
        principal = self.principal(request, perms.WRITE_GROUPS)
        changes = check_write("groups", await _json_body(request), creating=False)
        group = self.directory.group(request.path_params["id"])
        self.directory.update_group(group.obj.id, changes, self.actor(request, principal))
        return Response(status_code=204)

    async def delete_group(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/group-delete"""
        principal = self.principal(request, perms.WRITE_GROUPS)
        group = self.directory.group(request.path_params["id"])
        self.directory.delete_group(group.obj.id, self.actor(request, principal))
        return Response(status_code=204)

    async def list_members(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/group-list-members"""
        self.principal(request, perms.READ_GROUPS)
        group = self.directory.group(request.path_params["id"])
        query = request.query_params
        top = _top(query.get("$top"))
        members = group.members.at(self.directory.seq)
        start = self._list_position(query.get("$skiptoken"), "members")
        page = members[start : start + top]
        items = []
        for member in page:
            if self.directory.is_group(member):
                state = self.directory.groups[member].obj.current or {"id": member}
                items.append(
                    {
                        "@odata.type": "#microsoft.graph.group",
                        **project(state, GROUP_DEFAULT, nulls=True),
                    }
                )
            else:
                state = self.directory.users[member].current or {"id": member}
                items.append(
                    {
                        "@odata.type": "#microsoft.graph.user",
                        **project(state, USER_DEFAULT, nulls=True),
                    }
                )
        base = base_url(request)
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#directoryObjects"}
        if start + top < len(members):
            token = self.emulator.codec.list_token("members", start + top)
            body["@odata.nextLink"] = (
                f"{base}/v1.0/groups/{group.obj.id}/members?{_next_query(query, token)}"
            )
        body["value"] = items
        return json_response(body)

    async def add_member(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/group-post-members"""
        principal = self.principal(request, perms.WRITE_MEMBERS)
        member = self.reference(request, await _json_body(request))
        group = self.directory.group(request.path_params["id"])
        self.directory.add_member(group.obj.id, member, self.actor(request, principal))
        return Response(status_code=204)

    async def remove_member(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/group-delete-members"""
        principal = self.principal(request, perms.WRITE_MEMBERS)
        group = self.directory.group(request.path_params["id"])
        self.directory.remove_member(
            group.obj.id, request.path_params["member"], self.actor(request, principal)
        )
        return Response(status_code=204)

    # ----- service principals (https://learn.microsoft.com/graph/api/serviceprincipal-list)

    async def list_service_principals(self, request: Request) -> Response:
        self.principal(request, perms.READ_APPS)
        query = request.query_params
        predicate = self._filter(query.get("$filter"))
        select = [s.strip() for s in (query.get("$select") or "").split(",") if s.strip()]
        top = _top(query.get("$top"))
        items = []
        for sp in self.directory.service_principals.values():
            body = sp.to_graph()
            if predicate is None or predicate(body):
                items.append({k: body.get(k) for k in ["id", *select]} if select else body)
        return json_response(
            {
                "@odata.context": f"{base_url(request)}/v1.0/$metadata#servicePrincipals",
                "value": items[:top],
            }
        )

    async def get_service_principal(self, request: Request) -> Response:
        self.principal(request, perms.READ_APPS)
        sp = self.directory.service_principals.get(request.path_params["id"])
        if sp is None:
            raise not_found(request.path_params["id"])
        return json_response(
            {
                "@odata.context": f"{base_url(request)}/v1.0/$metadata#servicePrincipals/$entity",
                **sp.to_graph(),
            }
        )

    async def delete_service_principal(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/serviceprincipal-delete"""
        principal = self.principal(request, perms.WRITE_APPS)
        self.directory.delete_service_principal(
            request.path_params["id"], self.actor(request, principal)
        )
        return Response(status_code=204)

    async def update_service_principal(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/serviceprincipal-update (``accountEnabled``
        only: "Enabled for users to sign in?")."""
        principal = self.principal(request, perms.WRITE_APPS)
        sp = self.directory.service_principals.get(request.path_params["id"])
        if sp is None:
            raise not_found(request.path_params["id"])
        changes = await _json_body(request)
        if not isinstance(changes, dict) or set(changes) != {"accountEnabled"}:
            raise GraphError(
                400, "Request_BadRequest", "The emulator updates 'accountEnabled' only."
            )
        if not isinstance(changes["accountEnabled"], bool):
            raise GraphError(400, "Request_BadRequest", "'accountEnabled' must be a boolean.")
        self.directory.set_service_principal_enabled(
            sp, changes["accountEnabled"], self.actor(request, principal)
        )
        return Response(status_code=204)

    def _application(self, request: Request) -> Application:
        key = request.path_params.get("id") or request.path_params.get("app_id")
        app = next(
            (a for a in self.directory.apps.values() if key in (a.object_id, a.app_id)), None
        )
        if app is None:
            raise not_found(str(key))
        return app

    async def update_application(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/application-update (``keyCredentials``
        only: the certificates, which the list replaces)."""
        principal = self.principal(request, perms.WRITE_APPS)
        app = self._application(request)
        changes = await _json_body(request)
        if not isinstance(changes, dict) or set(changes) != {"keyCredentials"}:
            raise GraphError(
                400, "Request_BadRequest", "The emulator updates 'keyCredentials' only."
            )
        try:
            keys = [certificates.key_credential(entry) for entry in changes["keyCredentials"]]
        except (TypeError, ValueError) as exc:
            raise GraphError(400, "Request_BadRequest", str(exc)) from exc
        self.directory.set_certificates(app, keys, self.actor(request, principal))
        return Response(status_code=204)

    async def add_password(self, request: Request) -> Response:
        """https://learn.microsoft.com/graph/api/application-addpassword — by object id
        (``/applications/{id}``) or by ``/applications(appId='{appId}')``."""
        principal = self.principal(request, perms.WRITE_APPS)
        app = self._application(request)
        body = await _json_body(request) if (await request.body()).strip() else {}
        credential = body.get("passwordCredential") if isinstance(body, dict) else None
        name = (credential or {}).get("displayName") or "Password uploaded"
        added = self.directory.add_client_secret(app, self.actor(request, principal), name)
        return json_response(
            {
                "@odata.context": f"{base_url(request)}/v1.0/$metadata#microsoft.graph.passwordCredential",
                **added,
            }
        )

    # ----- audit log (https://learn.microsoft.com/graph/api/directoryaudit-list) ------

    async def list_directory_audits(self, request: Request) -> Response:
        self.principal(request, perms.READ_AUDIT)
        query = request.query_params
        top = _top(query.get("$top"), default=1000, maximum=1000)
        filter_text = query.get("$filter")
        token = query.get("$skiptoken")
        before: int | None = None
        if token is not None:
            try:
                before, filter_text = self.emulator.codec.read_audit_token(token)
            except ValueError as exc:
                raise GraphError(400, "BadRequest", "Invalid $skiptoken.") from exc
        predicate = self._filter(filter_text)
        events, next_before = self.directory.audit.page(predicate, before, top)
        base = base_url(request)
        body: dict[str, Any] = {
            "@odata.context": f"{base}/v1.0/$metadata#auditLogs/directoryAudits"
        }
        if next_before is not None:
            token = self.emulator.codec.audit_token(next_before, filter_text)
            body["@odata.nextLink"] = f"{base}/v1.0/auditLogs/directoryAudits?$skiptoken={token}"
        body["value"] = events
        return json_response(body)

    async def get_directory_audit(self, request: Request) -> Response:
        self.principal(request, perms.READ_AUDIT)
        event = self.directory.audit.get(request.path_params["id"])
        if event is None:
            raise not_found(request.path_params["id"])
        return json_response(
            {
                "@odata.context": f"{base_url(request)}/v1.0/$metadata#auditLogs/directoryAudits/$entity",
                **event,
            }
        )

    # ----- organization (https://learn.microsoft.com/graph/api/organization-list) -----

    async def organization(self, request: Request) -> Response:
        self.principal(request, perms.READ_ORG)
        tenant = self.directory.tenant
        return json_response(
            {
                "@odata.context": f"{base_url(request)}/v1.0/$metadata#organization",
                "value": [
                    {
                        "id": tenant.id,
                        "displayName": tenant.display_name,
                        "tenantType": "AAD",
                        "countryLetterCode": "US",
                        "verifiedDomains": [
                            {
                                "capabilities": "Email, OfficeCommunicationsOnline",
                                "isDefault": True,
                                "isInitial": False,
                                "name": tenant.domain,
                                "type": "Managed",
                            },
                            {
                                "capabilities": "Email, OfficeCommunicationsOnline",
                                "isDefault": False,
                                "isInitial": True,
                                "name": tenant.initial_domain,
                                "type": "Managed",
                            },
                        ],
                    }
                ],
            }
        )

    # ----- unknown paths ---------------------------------------------------------------

    def fallback(self, routes: list[BaseRoute]) -> Handler:
        async def unknown(request: Request) -> Response:
            for route in routes:
                match, _ = route.matches(request.scope)
                if match == Match.PARTIAL:
                    return graph_error(
                        request,
                        405,
                        "Request_BadRequest",
                        "Specified HTTP method is not allowed for the request target.",
                    )
            segment = request.path_params.get("rest", "").split("/")[0]
            return graph_error(
                request, 400, "BadRequest", f"Resource not found for the segment '{segment}'."
            )

        return unknown

    def routes(self) -> list[BaseRoute]:
        def route(path: str, endpoint: Handler, *methods: str) -> Route:
            return Route(f"/v1.0{path}", endpoint, methods=list(methods))

        table: list[BaseRoute] = []
        for delta_path in ("delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"):
            table.append(route(f"/users/{delta_path}", self.users_delta, "GET"))
            table.append(route(f"/groups/{delta_path}", self.groups_delta, "GET"))
        table += [
            route("/users", self.list_users, "GET"),
            route("/users", self.create_user, "POST"),
            route("/users/{id}", self.get_user, "GET"),
            route("/users/{id}", self.update_user, "PATCH"),
            route("/users/{id}", self.delete_user, "DELETE"),
            route("/users/{id}/manager", self.get_manager, "GET"),
            route("/users/{id}/manager/$ref", self.set_manager, "PUT"),
            route("/users/{id}/manager/$ref", self.remove_manager, "DELETE"),
            route("/directory/deletedItems/{id}", self.purge, "DELETE"),
            route("/groups", self.list_groups, "GET"),
            route("/groups", self.create_group, "POST"),
            route("/groups/{id}", self.get_group, "GET"),
            route("/groups/{id}", self.update_group, "PATCH"),
            route("/groups/{id}", self.delete_group, "DELETE"),
            route("/groups/{id}/members", self.list_members, "GET"),
            route("/groups/{id}/members/$ref", self.add_member, "POST"),
            route("/groups/{id}/members/{member}/$ref", self.remove_member, "DELETE"),
            route("/servicePrincipals", self.list_service_principals, "GET"),
            route("/servicePrincipals/{id}", self.get_service_principal, "GET"),
            route("/servicePrincipals/{id}", self.delete_service_principal, "DELETE"),
            route("/servicePrincipals/{id}", self.update_service_principal, "PATCH"),
            route("/applications/{id}", self.update_application, "PATCH"),
            route("/applications(appId='{app_id}')", self.update_application, "PATCH"),
            route("/applications/{id}/addPassword", self.add_password, "POST"),
            route("/applications(appId='{app_id}')/addPassword", self.add_password, "POST"),
            route("/auditLogs/directoryAudits", self.list_directory_audits, "GET"),
            route("/auditLogs/directoryAudits/{id}", self.get_directory_audit, "GET"),
            route("/organization", self.organization, "GET"),
        ]
        known = list(table)
        table.append(
            Route(
                "/v1.0/{rest:path}",
                self.fallback(known),
                methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            )
        )
        return table
