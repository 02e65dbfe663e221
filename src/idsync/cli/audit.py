"""``idsync audit``: the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from idsync.cli.common import DatabaseOption, JsonOption, emit_json, open_db, table
from idsync.errors.catalogue import INVALID_ARGUMENT, IdsyncError
from idsync.manage import audit
from idsync.scim.values import parse_datetime

app = typer.Typer(help="Query the audit log.", no_args_is_help=True)


def _when(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what=f"--{name} {value!r}",
            reason="it is not a date",
            hint="Use ISO 8601, e.g. 2026-11-26 or 2026-11-26T10:00:00Z.",
        )
    return parsed


@app.command("list")
def list_(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date (ISO 8601).")] = None,
    category: Annotated[str | None, typer.Option(help="e.g. Security.")] = None,
    activity: Annotated[str | None, typer.Option(help="e.g. 'Reject token'.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 100,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """List audit events, newest first."""
    db = open_db(database)
    events = audit.list_events(
        db,
        org_id=org,
        since=_when("since", since),
        until=_when("until", until),
        category=category,
        activity=activity,
        limit=limit,
    )
    if json:
        emit_json(events)
        return
    table(
        "Audit log",
        [
            "time",
            "org",
            "category",
            "activity",
            "result",
            "count",
            "actor",
            "target",
            "tracking id",
        ],
        [
            [
                e.occurred_at,
                e.org_id,
                e.category,
                e.activity,
                e.result,
                e.count,
                e.actor,
                e.target,
                e.tracking_id,
            ]
            for e in events
        ],
    )
