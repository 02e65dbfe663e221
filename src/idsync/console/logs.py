"""The audit log and the provisioning log: filtered, newest first, exported as CSV or JSON."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from idsync.api.management import parse_time
from idsync.api.operators import Principal
from idsync.console.pages import Console
from idsync.manage import audit, integrations, jobs
from idsync.manage.database import Database
from idsync.manage.integrations import IntegrationRecord

KINDS = ("audit", "provisioning")
FILTERS = ("since", "until", "category", "activity", "integration", "action", "result", "text")
READ = 5000
"""Newest entries read per log (and per integration): a page shows 500, an export all."""
SHOWN = 500


async def logs(c: Console, request: Request, who: Principal) -> Response:
    context = await c.org_context(who, request.path_params["org"])
    org_id = context["org"].id
    q = request.query_params
    kind = str(q.get("log")) if q.get("log") in KINDS else "audit"
    owned = [r for r, _ in await c.call(integrations.list_integrations, c.db, org_id)]
    filters = {k: q.get(k, "") for k in FILTERS}
    rows = await c.call(_rows, c.db, org_id, kind, filters, owned)
    export = q.get("format")
    if export in ("csv", "json"):
        return _export(rows, str(export), kind)
    return c.render(
        request, "logs.html", who, title="Logs", log=kind, rows=rows[:SHOWN], shown=SHOWN, total=len(rows),
        filters=filters, integrations=owned,
        query=urlencode({k: v for k, v in q.items() if k != "format"}),
        **context,
    )  # fmt: skip


def _rows(
    db: Database, org_id: str, kind: str, filters: dict[str, str], owned: list[IntegrationRecord]
) -> list[dict[str, Any]]:
    if kind == "audit":
        rows = _audit_rows(db, org_id, filters)
    else:
        rows = _provisioning_rows(db, filters, owned)
    text = filters["text"].casefold()
    if text:
        rows = [r for r in rows if any(text in str(v).casefold() for v in r.values())]
    return rows


def _audit_rows(db: Database, org_id: str, filters: dict[str, str]) -> list[dict[str, Any]]:
    events = audit.list_events(
        db,
        org_id=org_id,
        since=parse_time(filters["since"]),
        until=parse_time(filters["until"]),
        category=filters["category"] or None,
        activity=filters["activity"] or None,
        limit=READ,
    )
    return [
        {
            "time": e.occurred_at,
            "category": e.category,
            "activity": e.activity,
            "result": e.result,
            "actor": e.actor,
            "target": e.target or "",
            "count": e.count,
            "tracking_id": e.tracking_id or "",
            "details": _details(e.details),
        }
        for e in events
    ]


def _provisioning_rows(
    db: Database, filters: dict[str, str], owned: list[IntegrationRecord]
) -> list[dict[str, Any]]:
    since, until = parse_time(filters["since"]), parse_time(filters["until"])
    rows = []
    for record in owned:
        if filters["integration"] and record.id != filters["integration"]:
            continue
        entries = jobs.provisioning_log(
            db,
            record.id,
            action=filters["action"] or None,
            result=filters["result"] or None,
            limit=READ,
        )
        for entry in entries:
            when = entry.get("occurred_at")
            if (since and when and when < since) or (until and when and when > until):
                continue
            rows.append(
                {
                    "time": when,
                    "integration": record.name,
                    "integration_id": record.id,
                    "action": entry.get("action"),
                    "object_type": entry.get("object_type"),
                    "source_id": entry.get("source_id"),
                    "target_id": entry.get("target_id") or "",
                    "result": entry.get("result"),
                    "error_code": entry.get("error_code") or "",
                    "reason": entry.get("reason") or "",
                    "tracking_id": entry.get("tracking_id") or "",
                }
            )
    rows.sort(key=lambda row: str(row["time"] or ""), reverse=True)
    return rows


def _details(details: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in details.items() if v not in (None, "", [], {}))


def _export(rows: list[dict[str, Any]], fmt: str, kind: str) -> Response:
    name = f"idsync-{kind}-log.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if fmt == "json":
        return Response(orjson.dumps(rows), media_type="application/json", headers=headers)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP: CSV injection)."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
