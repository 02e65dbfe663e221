"""The console's routes at ``/admin``: server-rendered pages (``pages.py`` draws them),
each a plain form or link that works without script; ``static/console.js`` adds live
progress and copying debug info on top. Every page calls the service layer
(``manage/``), as the CLI does."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from idsync.api.management import by_method
from idsync.config import Settings
from idsync.console import logs, overview, people, signin, sync, team, tokens
from idsync.console.pages import Console, Endpoint
from idsync.hub.tenant import Hub
from idsync.manage import oidc
from idsync.manage.database import Database


async def _to_console(request: Request) -> Response:
    return RedirectResponse("/admin", status_code=307)


def routes(db: Database, settings: Settings, hub: Hub) -> list[Route | Mount]:
    c = Console(db, settings, hub)
    page = c.page
    org = "/admin/orgs/{org}"
    one = "/admin/integrations/{integration}"
    table: dict[str, dict[str, Endpoint]] = {
        "/": {"GET": _to_console},
        "/admin/login": {"GET": partial(signin.login_form, c), "POST": partial(signin.login, c)},
        "/admin/login/oidc": {"GET": partial(signin.oidc_start, c)},
        oidc.CALLBACK_PATH: {"GET": partial(signin.oidc_callback, c)},
        "/admin/logout": {"POST": page(signin.logout)},
        "/admin": {"GET": page(overview.home)},
        org: {"GET": page(overview.overview)},
        org + "/users": {"GET": page(people.people)},
        org + "/groups": {"GET": page(people.people)},
        org + "/users/{id}": {"GET": page(people.person)},
        org + "/groups/{id}": {"GET": page(people.person)},
        org + "/sync": {"GET": page(sync.sync_page)},
        org + "/sync/switch": {"POST": page(sync.switch)},
        org + "/integrations/new": {"GET": page(sync.add_form)},
        org + "/integrations": {"POST": page(sync.add)},
        org + "/logs": {"GET": page(logs.logs)},
        org + "/tokens": {"GET": page(tokens.tokens_page), "POST": page(tokens.create)},
        org + "/tokens/{token}/revoke": {"POST": page(tokens.revoke)},
        org + "/operators": {"GET": page(team.team_page), "POST": page(team.change)},
        one: {"GET": page(sync.integration_page)},
        one + "/finding": {"GET": page(sync.finding_page)},
        **{f"{one}/{action}": {"POST": page(sync.integration_action)} for action in sync.ACTIONS},
    }
    static = StaticFiles(packages=[("idsync.console", "static")])
    served: list[Route | Mount] = [by_method(path, methods) for path, methods in table.items()]
    return [*served, Mount("/admin/static", app=static, name="static")]
