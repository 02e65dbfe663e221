"""Users and groups: found by name, a page at a time, and one of them in full."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idsync.api.operators import Principal
from idsync.console.pages import Console, flatten
from idsync.manage import directory


def _kind(request: Request) -> directory.Kind:
    return "users" if "/users" in request.url.path else "groups"


async def people(c: Console, request: Request, who: Principal) -> Response:
    kind = _kind(request)
    context = await c.org_context(who, request.path_params["org"])
    q = request.query_params
    search = q.get("search", "")
    found = await c.call(
        directory.search, c.hub, context["org"].id, kind, search,
        after=q.get("after") or None, before=q.get("before") or None,
    )  # fmt: skip
    return c.render(
        request,
        "people.html",
        who,
        title="Users" if kind == "users" else "Groups",
        kind=kind,
        search=search,
        page=found,
        **context,
    )


async def person(c: Console, request: Request, who: Principal) -> Response:
    kind = _kind(request)
    context = await c.org_context(who, request.path_params["org"])
    found = await c.call(
        directory.detail, c.hub, context["org"].id, kind, request.path_params["id"]
    )
    resource = found.resource
    name = resource.get("userName") or resource.get("displayName") or resource["id"]
    return c.render(
        request,
        "person.html",
        who,
        title=str(name),
        kind=kind,
        found=found,
        attributes=flatten(resource),
        **context,
    )
