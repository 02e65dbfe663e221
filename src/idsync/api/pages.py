"""HTML pages a person's browser lands on (the admin-consent callback): small, no
script, escaped by Jinja2's autoescape. A page never shows a secret: it is filled from
the catalogue's texts and the repair's outcome only."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

from idsync.errors.catalogue import IdsyncError
from idsync.manage.repair import Repaired

_PAGES = Environment(
    loader=PackageLoader("idsync.api", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_HEADERS = {"Cache-Control": "no-store"}


def _render(name: str, code: int, /, **values: Any) -> HTMLResponse:
    body = _PAGES.get_template(name).render(**values)
    return HTMLResponse(body, status_code=code, headers=_HEADERS)


def error_page(error: IdsyncError, tracking_id: str | None) -> HTMLResponse:
    return _render(
        "consent_error.html",
        error.error.status,
        title=error.error.title[:1].upper() + error.error.title[1:],
        message=error.message,
        action=error.action,
        code=error.error.code,
        tracking_id=tracking_id or "",
    )


def repaired_page(repaired: Repaired, tracking_id: str | None) -> HTMLResponse:
    report = repaired.report
    healthy = report.outcome == "succeeded" and report.status == "Active"
    return _render(
        "consent_repaired.html",
        200,
        title="Repaired" if healthy else "Consent granted, the cycle did not complete",
        healthy=healthy,
        integration=repaired.integration.name,
        integration_id=repaired.integration.id,
        mode=report.mode,
        outcome=report.outcome,
        status=report.status,
        counts=sorted((k, v) for k, v in report.counts.items() if v),
        removal=repaired.removal,
        reason=report.reason if not healthy else None,
        tracking_id=report.tracking_id or tracking_id or "",
    )
