"""How ``integration list`` and ``integration show`` print for a person, at any width.

Times are ISO 8601 UTC, booleans yes/no, lists and objects JSON; an id is never cut or
wrapped (it must stay copyable); a value too long for its row (a quarantine reason, a
mappings document) is printed below the table on a line of its own, which the terminal
wraps, instead of being wrapped in a cell (so what it holds can be copied whole).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from idsync.connectors.description import Connector, Setting
from idsync.manage.integrations import JOB_OPTIONS, IntegrationRecord, JobRecord
from idsync.scim.values import format_datetime

Row = tuple[str, str]

ID_WIDTH = 36
"""A UUID: integration and organisation ids."""


def text(value: Any) -> str:
    """A value as a user reads it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def print_rows(console: Console, title: str, rows: Sequence[Row]) -> None:
    """Name and value, one per line, for what fits on a line; the rest whole, below."""
    key_width = max((len(key) for key, _ in rows), default=0)
    room = console.width - key_width - 2
    fits = [(key, value) for key, value in rows if "\n" not in value and len(value) <= room]
    console.print(f"[bold]{title}[/]", highlight=False, soft_wrap=True)
    for key, value in fits:
        console.print(f"{key:<{key_width}}  {value}", highlight=False, markup=False, soft_wrap=True)
    for key, value in rows:
        if (key, value) not in fits:
            console.print(f"{key}:", highlight=False, markup=False)
            # One line, wrapped by the terminal: a path, URL or command in it stays whole
            # when copied.
            console.print(value, highlight=False, markup=False, soft_wrap=True)


def show(console: Console, connector: Connector, record: IntegrationRecord, job: JobRecord) -> None:
    print_rows(console, f"Integration {record.name}", _identity(record))
    console.print()
    print_rows(console, "Settings", _settings(connector, record))
    console.print()
    print_rows(console, "Job", _job(record, job))


def _identity(record: IntegrationRecord) -> list[Row]:
    return [
        ("id", record.id),
        ("organisation", record.org_id),
        ("kind", f"{record.kind} ({record.direction})"),
        ("credentials", "stored (encrypted)" if record.secrets else "none"),
        ("created", text(record.created_at)),
        ("updated", text(record.updated_at)),
    ]


def _settings(connector: Connector, record: IntegrationRecord) -> list[Row]:
    rows: list[Row] = []
    for item in connector.settings:
        if item.secret:
            continue
        if item.key in record.settings and record.settings[item.key] is not None:
            rows.append((item.flag[2:], text(record.settings[item.key])))
        else:
            rows.append((item.flag[2:], _default(item)))
    return rows


def _default(item: Setting) -> str:
    shown = text(item.shown(item.default))
    return f"{shown} (default)" if shown not in ("", "[]", "{}") else "(default)"


def _job(record: IntegrationRecord, job: JobRecord) -> list[Row]:
    options = {
        "interval": f"{record.interval_seconds // 60} minutes",
        "auto-sync": text(record.auto_sync),
        "deletion-threshold": text(record.deletion_threshold),
        "adopt-existing": text(record.adopt_existing),
        "matching-attribute": record.matching_attribute,
        "mappings": text(record.mappings) if record.mappings else "(default)",
        "scoping": text(record.scoping) if record.scoping else "(none)",
    }
    assert len(options) == len(JOB_OPTIONS)  # every job option is shown
    rows: list[Row] = [("status", job.status), *options.items()]
    rows += [
        ("last cycle", text(job.last_cycle_at) or "never"),
        ("next run", text(job.next_run_at) if record.auto_sync else "only when asked"),
        ("successive failures", text(job.successive_failures)),
    ]
    if job.reason_code or job.reason:
        rows += [("reason code", text(job.reason_code)), ("reason", text(job.reason))]
    return rows


def listing(
    console: Console, rows: Sequence[tuple[IntegrationRecord, JobRecord]], org: str | None
) -> None:
    """Integrations by organisation: id, kind, name, status, auto sync (and the last cycle
    when the terminal is wide enough for it too)."""
    if not rows:
        console.print("No integrations" + (f" in organisation {org}." if org else "."))
        return
    wide = console.width >= 110
    for org_id in dict.fromkeys(record.org_id for record, _ in rows):
        console.print(f"[bold]Organisation {org_id}[/]", highlight=False, soft_wrap=True)
        view = Table(box=None, pad_edge=False, header_style="bold")
        view.add_column("id", no_wrap=True, min_width=ID_WIDTH)
        view.add_column("kind", no_wrap=True)
        view.add_column("name", overflow="fold")
        view.add_column("status", no_wrap=True)
        view.add_column("auto sync", no_wrap=True)
        if wide:
            view.add_column("last cycle", no_wrap=True)
        for record, job in rows:
            if record.org_id != org_id:
                continue
            cells = [record.id, record.kind, record.name, job.status, text(record.auto_sync)]
            view.add_row(*cells, *([text(job.last_cycle_at) or "never"] if wide else []))
        console.print(view, highlight=False)
