"""The org's users and groups as the console shows them: found by the hub's own SCIM
search (the filter → SQL hot path), one page at a time, with who provisions each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from idsync.hub.groups import GroupService
from idsync.hub.resources import ResourceService
from idsync.hub.tenant import Hub, Tenant
from idsync.hub.users import UserService
from idsync.scim.projection import build_projection
from idsync.store import integrations, orgs
from idsync.store import resources as store

Kind = Literal["users", "groups"]
PAGE_SIZE = 50
MEMBERS_SHOWN = 100


@dataclass(frozen=True)
class Page:
    total: int
    """Of everything the search matches."""
    items: list[dict[str, Any]]
    previous: str | None = None
    """The id to read the page before this one from (``before``), if there is one."""
    next: str | None = None
    """The id to read the page after this one from (``after``), if there is one."""


@dataclass(frozen=True)
class Detail:
    resource: dict[str, Any]
    owner: str | None
    """The integration that provisions it, by name; None when created by hand or over SCIM."""
    owner_id: str | None
    members_total: int = 0
    members: tuple[tuple[str, str, str], ...] = ()


def _service(hub: Hub, kind: Kind) -> ResourceService:
    return UserService(hub) if kind == "users" else GroupService(hub)


def _tenant(hub: Hub, org_id: str) -> Tenant:
    with hub.db.read() as conn:
        org = orgs.require_org(conn, org_id)
    return Tenant(org.id, hub.description(org.id, org.schema_revision), f"/scim/{org.id}/v2")


def _filter(kind: Kind, text: str) -> str | None:
    """Names that start with ``text``: userName or displayName for users (userName alone
    is indexed), displayName for groups."""
    text = text.strip()
    if not text:
        return None
    quoted = json.dumps(text)
    if kind == "users":
        return f"userName sw {quoted} or displayName sw {quoted}"
    return f"displayName sw {quoted}"


def search(
    hub: Hub,
    org_id: str,
    kind: Kind,
    text: str = "",
    *,
    after: str | None = None,
    before: str | None = None,
) -> Page:
    """A page of the users (or groups) whose names start with ``text``, in id order,
    after or before the id of a page already shown: paging costs the same at the first
    page as at the last."""
    tenant = _tenant(hub, org_id)
    excluded = ("members",) if kind == "groups" else ("groups",)
    total, items, more = _service(hub, kind).browse(
        tenant, _filter(kind, text), after=after, before=before, limit=PAGE_SIZE,
        excluded=excluded,
    )  # fmt: skip
    backwards = before is not None and after is None
    has_previous = more if backwards else after is not None
    has_next = (before is not None) if backwards else more
    return Page(
        total,
        items,
        previous=items[0]["id"] if items and has_previous else None,
        next=items[-1]["id"] if items and has_next else None,
    )


def totals(hub: Hub, org_id: str) -> dict[Kind, int]:
    """How many users and groups the organisation has."""
    with hub.db.read() as conn:
        return {
            "users": store.count(conn, "User", org_id),
            "groups": store.count(conn, "Group", org_id),
        }


def detail(hub: Hub, org_id: str, kind: Kind, resource_id: str) -> Detail:
    tenant = _tenant(hub, org_id)
    service = _service(hub, kind)
    excluded = ["members"] if kind == "groups" else []
    projection = build_projection([], excluded, service.rts(tenant))
    resource, _ = service.get(tenant, resource_id, projection)
    with hub.db.read() as conn:
        row = store.get_row(conn, "User" if kind == "users" else "Group", org_id, resource_id)
        owner_id = row.owner_integration_id if row is not None else None
        owner = integrations.find_integration(conn, owner_id) if owner_id else None
        total, members = (
            store.first_members(conn, resource_id, MEMBERS_SHOWN) if kind == "groups" else (0, [])
        )
    return Detail(resource, owner.name if owner else None, owner_id, total, tuple(members))
