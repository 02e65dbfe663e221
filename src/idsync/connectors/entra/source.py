"""The Entra ID source: users and groups from Microsoft Graph delta queries.

A read is one round of a delta query ("Use delta query to track changes in
Microsoft Graph data"): a full read starts at ``/v1.0/{users|groups}/delta`` with
our ``$select``; Graph answers page after page with ``@odata.nextLink`` and ends
with an ``@odata.deltaLink``. Each page becomes one :class:`Page` whose ``resume``
is the nextLink (a cycle that stops there continues from it) and the last page's
``watermark`` is the deltaLink, from which the next cycle reads only what changed.
The links already encode the query, so they are followed as they are.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

from idsync.connectors.entra import directory, permissions
from idsync.connectors.entra.client import GraphClient, JsonObject, NotFound
from idsync.connectors.entra.groups import (
    GROUP_DELTA_SELECT,
    GROUP_PROPERTIES,
    group_from_delta,
    group_from_get,
    member_ref,
)
from idsync.connectors.entra.settings import EntraSettings
from idsync.connectors.entra.users import (
    user_delta_select,
    user_from_delta,
    user_from_get,
    user_properties,
)
from idsync.contract.checks import Health
from idsync.contract.errors import ConnectorError
from idsync.contract.records import MemberRef, ObjectType, Page, ReadStart, SourceObject
from idsync.logs import get_logger

log = get_logger("idsync.connectors.entra")

_COLLECTIONS: dict[ObjectType, str] = {"user": "users", "group": "groups"}


class EntraSource:
    """A :class:`~idsync.contract.protocols.Source` reading one Entra ID tenant."""

    def __init__(
        self,
        settings: EntraSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        client: GraphClient | None = None,
    ) -> None:
        self.settings = settings
        self._client = client or GraphClient(settings, sleep=sleep)

    # --- the Source protocol -------------------------------------------------------------

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        target, params = self._start(object_type, start)
        # A first round (begun here or in the cycle this one resumes) lists whole users.
        whole = start.is_full or (
            isinstance(start.resume, Mapping) and bool(start.resume.get("whole"))
        )
        while True:
            body = self._delta_page(target, params)
            objects = self._objects(object_type, body.get("value") or [], whole)
            next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
            if next_link:
                yield Page(objects, resume={"next": str(next_link), "whole": whole})
                target, params = str(next_link), None
            elif delta_link:
                yield Page(objects, watermark={"delta": str(delta_link)})
                return
            else:
                raise self._client.failures.unavailable(
                    f"a {_COLLECTIONS[object_type]}/delta page had neither @odata.nextLink "
                    "nor @odata.deltaLink"
                )

    def read_one(self, object_type: ObjectType, source_id: str) -> SourceObject | None:
        try:
            if object_type == "user":
                return self._user(source_id)
            return self._group(source_id)
        except NotFound:
            return None

    def check(self) -> Health:
        """A token, then our own service principal: proves the credentials and the consent."""
        try:
            roles = permissions.token_roles(self._client.token())
            principal = self.service_principal()
        except ConnectorError as exc:
            return Health.failed(exc)
        if principal is None:
            missing = self._client.failures.service_principal_missing(
                404, "no servicePrincipals entry has this appId"
            )
            return Health.failed(missing)
        return Health(
            principal.get("accountEnabled") is not False,
            {
                "service_principal_id": principal.get("id"),
                "display_name": principal.get("displayName"),
                "account_enabled": principal.get("accountEnabled"),
                # What the token carries against what a cycle needs (None: unreadable).
                "roles_granted": roles,
                "roles_needed": list(permissions.NEEDED),
                "roles_missing": None if roles is None else permissions.missing(roles),
            },
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EntraSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- for the health features ---------------------------------------------------------

    def service_principal(self) -> JsonObject | None:
        """This app's service principal in the tenant (id, appId, displayName, accountEnabled)."""
        return directory.find_service_principal(self._client, self.settings.client_id)

    def directory_audits(
        self, activity: str | None = None, since: datetime | None = None, top: int | None = None
    ) -> Iterator[JsonObject]:
        """Directory audit records, e.g. activity "Remove service principal", since a moment."""
        return directory.directory_audits(
            self._client, activity=activity, since=since, top=top, page_size=self.settings.page_size
        )

    # --- reading -------------------------------------------------------------------------

    def _start(
        self, object_type: ObjectType, start: ReadStart
    ) -> tuple[str, dict[str, str] | None]:
        if start.resume is not None:
            return self._stored_link(start.resume, ("next", "delta"), "checkpoint"), None
        if start.watermark is not None:
            return self._stored_link(start.watermark, ("delta",), "watermark"), None
        collection = _COLLECTIONS[object_type]
        select = user_delta_select(self.settings.extra_user_attributes)
        return f"/v1.0/{collection}/delta", {
            "$select": select if object_type == "user" else GROUP_DELTA_SELECT
        }

    def _stored_link(self, stored: Any, keys: tuple[str, ...], what: str) -> str:
        """A link saved by an earlier cycle; an unusable one means reading everything again."""
        links = [stored.get(key) for key in keys] if isinstance(stored, Mapping) else []
        link = next((link for link in links if link), None)
        if not isinstance(link, str) or not self._client.owns(link):
            raise self._client.failures.watermark_expired(
                f"the saved {what} is not a Graph link on {self.settings.graph_url}"
            )
        return link

    def _delta_page(self, target: str, params: dict[str, str] | None) -> JsonObject:
        try:
            return self._client.get(target, params, page_size=self.settings.page_size)
        except NotFound as exc:
            raise self._client.failures.unavailable(f"the delta query answered {exc}") from exc

    def _objects(
        self, object_type: ObjectType, items: list[Any], whole: bool
    ) -> tuple[SourceObject, ...]:
        """``whole`` for users only: a group of a first round may come in several records,
        each with part of its members and not necessarily all its properties."""
        usable = [item for item in items if isinstance(item, dict) and item.get("id")]
        if len(usable) < len(items):
            log.warning("entra.items_without_id", count=len(items) - len(usable))
        if object_type == "user":
            return tuple(user_from_delta(item, whole) for item in usable)
        skipped: Counter[str] = Counter()
        groups = tuple(group_from_delta(item, skipped) for item in usable)
        if skipped:
            log.debug("entra.members_skipped", by_type=dict(skipped))
        return groups

    def _user(self, source_id: str) -> SourceObject:
        path = f"/v1.0/users/{quote(source_id, safe='')}"
        user = self._client.get(
            path, {"$select": user_properties(self.settings.extra_user_attributes)}
        )
        try:
            manager: str | None = str(self._client.get(f"{path}/manager", {"$select": "id"})["id"])
        except NotFound:
            manager = None
        return user_from_get(user, manager)

    def _group(self, source_id: str) -> SourceObject:
        path = f"/v1.0/groups/{quote(source_id, safe='')}"
        group = self._client.get(path, {"$select": GROUP_PROPERTIES})
        return group_from_get(group, self._members(path))

    def _members(self, group_path: str) -> list[MemberRef]:
        skipped: Counter[str] = Counter()
        params = {"$select": "id", "$top": str(self.settings.page_size)}
        items = directory.paged(self._client, f"{group_path}/members", params)
        members = [ref for item in items if (ref := member_ref(item, skipped)) is not None]
        if skipped:
            log.debug("entra.members_skipped", by_type=dict(skipped))
        return members
