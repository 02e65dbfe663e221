"""``idsync debug-info TRACKING_ID``: one failure's redacted bundle, for a support ticket."""

from __future__ import annotations

import json as json_module

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db
from idsync.cli.integration_view import Row, print_rows, text
from idsync.config import Settings
from idsync.manage.debug import debug_info as bundle_of


def debug_info(tracking_id: str, database: DatabaseOption = None, json: JsonOption = False) -> None:
    """What support needs about one failure (a cycle's, an object's, a job change's or a
    finding's tracking ID), every secret redacted: paste it into a ticket."""
    bundle = bundle_of(open_db(database), Settings.from_env(), tracking_id)
    if json:
        emit_json(bundle)
        return
    operation = bundle["operation"]
    rows: list[Row] = [
        ("tracking ID", bundle["tracking_id"]),
        ("time (UTC)", text(bundle["time"])),
        ("org", bundle["org"]["id"]),
        ("integration", f"{bundle['integration']['id']} ({bundle['integration']['kind']})"),
        ("job status", bundle["job"]["status"]),
        ("operation", text(operation.get("kind"))),
        ("status", f"{text(bundle['status'])} {text(bundle['status_text'])}".strip()),
    ]
    if bundle["finding"]:
        rows.append(("finding", bundle["finding"]["cause"]))
    print_rows(console, "Debug info", rows)
    console.print("[bold]Bundle[/] (redacted; copy it whole)", highlight=False)
    console.print(
        json_module.dumps(bundle, indent=2, ensure_ascii=False),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
