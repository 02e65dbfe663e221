"""Test and benchmark controls under ``/_emulator/`` (not Graph; admin token required).

* ``GET /_emulator/state`` — counts (users, groups, memberships, audit events, seq…).
* ``POST /_emulator/expire-delta-tokens`` — every outstanding delta/skip token now gets
  410 Gone (``resyncRequired``), as after tenant maintenance.
* ``GET|POST|DELETE /_emulator/faults`` — list, queue (body: see ``faults.py``) or clear
  injected faults.
* ``POST /_emulator/break`` ``{"cause": C}`` — reproduce an incident: ``remove-service-principal``,
  ``revoke-consent`` (every app role assignment removed), ``expire-secret``
  (AADSTS7000222), ``expire-certificate`` (AADSTS700027), ``disable-app`` (AADSTS7000112) or ``throttle`` (60 answers 429).
* ``POST /_emulator/fix`` ``{"cause": C}`` — the tenant administrator's part of the
  repair: admin consent (with ``"consent_url"``, the link a finding printed: the answer's
  ``location`` is where the browser would go next), a new client secret (its
  ``secretText``), the application enabled again, or the throttling ended.
* ``POST /_emulator/mutate`` ``{"count": K, "seed": S}`` — apply K random, realistic
  changes (attribute edits, disables, membership adds/removes, manager moves, new and
  deleted users) through the same directory methods Graph writes use: each is in the
  change log and the audit log. For benchmarks that need many changes quickly.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from idsync.emulator.directory import Application, DirectoryError
from idsync.emulator.faults import FaultError
from idsync.emulator.graph import GraphApi
from idsync.emulator.login import grant_consent
from idsync.emulator.responses import GraphError, json_response
from idsync.emulator.seed import DEPARTMENT_NAMES, DEPARTMENTS, FIRST_NAMES, LAST_NAMES
from idsync.emulator.signin import redirect_allowed

ADMIN_ONLY = frozenset({"Directory.ReadWrite.All"})
BREAKS = (
    "remove-service-principal",
    "revoke-consent",
    "expire-secret",
    "expire-certificate",
    "disable-app",
    "throttle",
)
"""What ``POST /_emulator/break`` reproduces (``{"cause": …}``)."""


class AdminApi:
    def __init__(self, graph: GraphApi) -> None:
        self.graph = graph
        self.emulator = graph.emulator
        self.directory = graph.directory

    def _admin(self, request: Request) -> None:
        principal = self.graph.principal(request, ADMIN_ONLY)
        if principal.kind != "user":
            raise GraphError(
                403, "Authorization_RequestDenied", "Only the admin token may do this."
            )

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise GraphError(400, "BadRequest", "Body must be a JSON object.") from exc
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Body must be a JSON object.")
        return body

    async def state(self, request: Request) -> Response:
        self._admin(request)
        return json_response(self.directory.counts(), media_type="application/json")

    async def expire_delta_tokens(self, request: Request) -> Response:
        self._admin(request)
        self.directory.delta_epoch += 1
        return json_response(
            {"deltaEpoch": self.directory.delta_epoch}, media_type="application/json"
        )

    async def list_faults(self, request: Request) -> Response:
        self._admin(request)
        return json_response(
            {"value": self.emulator.faults.describe()}, media_type="application/json"
        )

    async def add_fault(self, request: Request) -> Response:
        self._admin(request)
        try:
            fault = self.emulator.faults.add(await self._body(request))
        except FaultError as exc:
            raise GraphError(400, "BadRequest", str(exc)) from exc
        return json_response(asdict(fault), 201, media_type="application/json")

    async def clear_faults(self, request: Request) -> Response:
        self._admin(request)
        self.emulator.faults.clear()
        return Response(status_code=204)

    async def break_(self, request: Request) -> Response:
        """Reproduce an incident an administrator can cause (``idsync demo break``), as
        the tenant's administrator, so the directory audit log names them."""
        self._admin(request)
        cause = (await self._body(request)).get("cause")
        actor = self.graph.actor(request, self.graph.principal(request, ADMIN_ONLY))
        app = next(iter(self.directory.apps.values()), None)
        sp = self.directory.sp_for_app(app.app_id) if app else None
        if app is None or cause not in BREAKS:
            raise GraphError(400, "BadRequest", f"'cause' must be one of {', '.join(BREAKS)}.")
        if cause == "expire-secret":
            self.directory.expire_client_secret(app, actor)
        elif cause == "expire-certificate":
            self.directory.expire_certificates(app)
        elif cause == "throttle":
            self.emulator.faults.add(
                {"path": "/v1.0/", "action": "status", "status": 429, "retry_after": 2, "count": 60}
            )
        elif sp is None:
            raise GraphError(404, "Request_ResourceNotFound", "The app has no service principal.")
        elif cause == "remove-service-principal":
            self.directory.delete_service_principal(sp.id, actor)
        elif cause == "revoke-consent":
            self.directory.revoke_consent(sp, actor)
        else:
            self.directory.set_service_principal_enabled(sp, False, actor)
        return json_response({"cause": cause, "appId": app.app_id}, media_type="application/json")

    async def fix(self, request: Request) -> Response:
        """Undo a break as the tenant's administrator would (``idsync demo fix``)."""
        self._admin(request)
        body = await self._body(request)
        cause = body.get("cause")
        actor = self.graph.actor(request, self.graph.principal(request, ADMIN_ONLY))
        app = next(iter(self.directory.apps.values()), None)
        if app is None or cause not in BREAKS:
            raise GraphError(400, "BadRequest", f"'cause' must be one of {', '.join(BREAKS)}.")
        answer: dict[str, Any] = {"cause": cause, "appId": app.app_id}
        if cause in ("remove-service-principal", "revoke-consent"):
            asked = self._consent_asked(app, str(body.get("consent_url") or ""))
            address = request.client.host if request.client else "127.0.0.1"
            answer["location"] = grant_consent(self.directory, app, asked, address)
        elif cause == "expire-secret":
            added = self.directory.add_client_secret(app, actor, "idsync demo")
            answer["secretText"] = added["secretText"]
        elif cause == "disable-app":
            sp = self.directory.sp_for_app(app.app_id)
            if sp is None:
                raise GraphError(
                    404, "Request_ResourceNotFound", "The app has no service principal."
                )
            self.directory.set_service_principal_enabled(sp, True, actor)
        elif cause == "throttle":
            self.emulator.faults.clear()
        else:
            raise GraphError(
                400,
                "BadRequest",
                "Upload a new certificate: PATCH /v1.0/applications/{id} with keyCredentials.",
            )
        return json_response(answer, media_type="application/json")

    @staticmethod
    def _consent_asked(app: Application, consent_url: str) -> dict[str, str]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(consent_url).query).items()}
        asked = {
            "redirect_uri": query.get("redirect_uri")
            or (app.redirect_uris[0] if app.redirect_uris else ""),
            "state": query.get("state", ""),
            "scope": query.get("scope", ""),
        }
        if query.get("client_id", app.app_id) != app.app_id or not redirect_allowed(
            app, asked["redirect_uri"]
        ):
            raise GraphError(400, "BadRequest", "The consent link is not for this application.")
        return asked

    async def mutate(self, request: Request) -> Response:
        self._admin(request)
        body = await self._body(request)
        count = body.get("count", 100)
        if not isinstance(count, int) or count < 0:
            raise GraphError(400, "BadRequest", "'count' must be a non-negative integer.")
        rng = random.Random(body.get("seed"))
        principal = self.graph.principal(request, ADMIN_ONLY)
        actor = self.graph.actor(request, principal)
        applied: Counter[str] = Counter()
        users, groups = self.directory.order["users"], self.directory.order["groups"]
        attempts = 0
        while sum(applied.values()) < count and attempts < count * 20:
            attempts += 1
            roll = rng.random()
            user_id = users[rng.randrange(len(users))]
            if user_id == self.directory.admin_user_id or not self.directory.live(user_id):
                continue
            try:
                if roll < 0.45:
                    department = DEPARTMENT_NAMES[rng.randrange(len(DEPARTMENT_NAMES))]
                    titles = DEPARTMENTS[department]
                    self.directory.update_user(
                        user_id,
                        {"department": department, "jobTitle": titles[rng.randrange(len(titles))]},
                        actor,
                    )
                    applied["update"] += 1
                elif roll < 0.55:
                    state = self.directory.users[user_id].current or {}
                    self.directory.update_user(
                        user_id, {"accountEnabled": not state.get("accountEnabled", True)}, actor
                    )
                    applied["enable" if not state.get("accountEnabled", True) else "disable"] += 1
                elif roll < 0.72 and groups:
                    group_id = groups[rng.randrange(len(groups))]
                    self.directory.add_member(group_id, user_id, actor)
                    applied["addMember"] += 1
                elif roll < 0.89 and groups:
                    member_of = self.directory.member_of.get(user_id) or []
                    if not member_of:
                        continue
                    self.directory.remove_member(
                        member_of[rng.randrange(len(member_of))], user_id, actor
                    )
                    applied["removeMember"] += 1
                elif roll < 0.94:
                    manager = users[rng.randrange(len(users))]
                    if not self.directory.live(manager):
                        continue
                    self.directory.set_manager(user_id, manager, actor)
                    applied["manager"] += 1
                elif roll < 0.98:
                    first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
                    last = LAST_NAMES[rng.randrange(len(LAST_NAMES))]
                    nickname = f"{first.lower()}.{last.lower()}.n{self.directory.seq + 1}"
                    self.directory.create_user(
                        {
                            "accountEnabled": True,
                            "displayName": f"{first} {last}",
                            "givenName": first,
                            "surname": last,
                            "mailNickname": nickname,
                            "userPrincipalName": f"{nickname}@{self.directory.tenant.domain}",
                            "mail": f"{nickname}@{self.directory.tenant.domain}",
                        },
                        actor,
                    )
                    applied["create"] += 1
                else:
                    self.directory.delete_user(user_id, actor)
                    applied["delete"] += 1
            except DirectoryError:
                continue
        return json_response(
            {"applied": sum(applied.values()), "byKind": dict(applied), "seq": self.directory.seq},
            media_type="application/json",
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_emulator/state", self.state, methods=["GET"]),
            Route("/_emulator/expire-delta-tokens", self.expire_delta_tokens, methods=["POST"]),
            Route("/_emulator/faults", self.list_faults, methods=["GET"]),
            Route("/_emulator/faults", self.add_fault, methods=["POST"]),
            Route("/_emulator/faults", self.clear_faults, methods=["DELETE"]),
            Route("/_emulator/mutate", self.mutate, methods=["POST"]),
            Route("/_emulator/break", self.break_, methods=["POST"]),
            Route("/_emulator/fix", self.fix, methods=["POST"]),
        ]
