"""``idsync schema``: custom extension schemas per organisation."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db, table
from idsync.errors.catalogue import INVALID_SCHEMA, IdsyncError
from idsync.manage import orgs

app = typer.Typer(
    help="Declare extension schemas (RFC 7643 §3.3) for an organisation.", no_args_is_help=True
)

OrgOption = Annotated[str, typer.Option("--org", help="Organisation id.")]


def _read(file: Path) -> dict[str, Any]:
    try:
        document = jsonlib.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IdsyncError(
            INVALID_SCHEMA, reason=f"{file} could not be read as JSON ({exc})"
        ) from None
    if not isinstance(document, dict):
        raise IdsyncError(INVALID_SCHEMA, reason="the file must hold one JSON object")
    return document


@app.command("add")
def add(
    org: OrgOption,
    file: Annotated[Path, typer.Argument(help="The schema as JSON (id, name, attributes).")],
    resource_type: Annotated[str, typer.Option(help="User or Group.")] = "User",
    required: Annotated[
        bool, typer.Option(help="Every resource must carry this extension.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Declare an extension schema; it appears in /Schemas and /ResourceTypes at once."""
    definition = _read(file)
    orgs.add_schema(
        open_db(database), org, resource_type, definition, required=required, actor="cli"
    )
    console.print(f"Declared {definition['id']} for {resource_type}")


@app.command("list")
def list_(org: OrgOption, database: DatabaseOption = None, json: JsonOption = False) -> None:
    """List an organisation's extension schemas."""
    records = orgs.list_schemas(open_db(database), org)
    if json:
        emit_json(records)
        return
    table(
        "Extension schemas",
        ["schema", "resource type", "required", "attributes"],
        [
            [r.schema_id, r.resource_type, r.required, len(r.definition.get("attributes", []))]
            for r in records
        ],
    )


@app.command("remove")
def remove(
    org: OrgOption,
    schema_id: Annotated[str, typer.Argument(help="The schema URN.")],
    database: DatabaseOption = None,
) -> None:
    """Remove an extension schema declaration (stored values stay in the documents)."""
    orgs.remove_schema(open_db(database), org, schema_id, actor="cli")
    console.print(f"Removed {schema_id}")
