"""``idsync org``: organisations (tenants)."""

from __future__ import annotations

from typing import Annotated

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db, table
from idsync.errors.catalogue import INVALID_ARGUMENT, IdsyncError
from idsync.manage import orgs

app = typer.Typer(help="Create and list organisations (tenants).", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the organisation, e.g. Contoso.")],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Create an organisation; its SCIM API is /scim/<id>/v2/."""
    record = orgs.create_org(open_db(database), name, actor="cli")
    if json:
        emit_json(record)
    else:
        console.print(f"Created organisation [bold]{record.name}[/] with id [bold]{record.id}[/]")
        console.print(f"Next: idsync token create --org {record.id}")


@app.command("list")
def list_(database: DatabaseOption = None, json: JsonOption = False) -> None:
    """List organisations."""
    records = orgs.list_orgs(open_db(database))
    if json:
        emit_json(records)
        return
    table(
        "Organisations", ["id", "name", "created"], [[r.id, r.name, r.created_at] for r in records]
    )


@app.command("set")
def set_(
    org_id: Annotated[str, typer.Argument(help="Organisation id.")],
    group_patch_response: Annotated[
        str | None,
        typer.Option(
            help="representation: group PATCH answers 200 with the group (RFC 7644 §3.5.2); "
            "minimal: 204, as Entra ID prefers for large groups. Clients can still ask per "
            "request with 'Prefer: return=…'."
        ),
    ] = None,
    patch_upsert: Annotated[
        str | None,
        typer.Option(
            help="A PATCH whose value filter matches nothing "
            '(emails\\[type eq "work"].value '
            "on a user without a work email): entra (the default) creates the value for "
            "Entra ID's requests and answers the others 400 noTarget, as RFC 7644 "
            "§3.5.2.3 says; all creates it for every client; none for none."
        ),
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Change an organisation's settings."""
    if group_patch_response is None and patch_upsert is None:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what="org set",
            reason="it names no setting to change",
            hint="Give --group-patch-response or --patch-upsert (see: idsync org set --help).",
        )
    db = open_db(database)
    record = orgs.get_org(db, org_id)
    if group_patch_response is not None:
        record = orgs.set_group_patch_response(db, org_id, group_patch_response, actor="cli")
    if patch_upsert is not None:
        record = orgs.set_patch_upsert(db, org_id, patch_upsert, actor="cli")
    if json:
        emit_json(record)
        return
    if group_patch_response is not None:
        console.print(f"Group PATCH now answers with: {record.group_patch_response}")
    if patch_upsert is not None:
        console.print(
            f"Unmatched PATCH value filters now create the value for: {record.patch_upsert}"
        )


@app.command("show")
def show(
    org_id: Annotated[str, typer.Argument(help="Organisation id.")],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Show one organisation."""
    record = orgs.get_org(open_db(database), org_id)
    if json:
        emit_json(record)
    else:
        table(
            "Organisation",
            ["id", "name", "created", "schema revision"],
            [[record.id, record.name, record.created_at, record.schema_revision]],
        )
