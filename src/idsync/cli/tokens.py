"""``idsync token``: bearer tokens for an organisation's SCIM API."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db, table
from idsync.manage import tokens

app = typer.Typer(help="Issue, list and revoke SCIM bearer tokens.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organisation id.")]


@app.command("create")
def create(
    org: OrgOption,
    name: Annotated[
        str, typer.Option(help="What the token is for, e.g. 'Entra ID provisioning'.")
    ] = "SCIM token",
    expires_in_days: Annotated[
        int | None, typer.Option(help="Expire after this many days.")
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Issue a token. It is shown once: only its hash is stored."""
    expiry = timedelta(days=expires_in_days) if expires_in_days else None
    issued = tokens.issue(open_db(database), org, name, actor="cli", expires_in=expiry)
    record = issued.record
    if json:
        emit_json(
            {
                "id": record.id,
                "org_id": record.org_id,
                "name": record.name,
                "prefix": record.prefix,
                "token": issued.secret,
                "created_at": record.created_at,
                "expires_at": record.expires_at,
            }
        )
        return
    console.print(f"Token [bold]{record.id}[/] for organisation {record.org_id}:")
    console.print(issued.secret, highlight=False, soft_wrap=True)
    console.print("Copy it now: it cannot be shown again.")


@app.command("list")
def list_(
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's tokens.")
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """List tokens (never their secrets)."""
    records = tokens.list_for(open_db(database), org)
    if json:
        emit_json(records)
        return
    table(
        "Tokens",
        ["id", "org", "name", "prefix", "created", "last used", "expires", "revoked"],
        [
            [
                r.id,
                r.org_id,
                r.name,
                r.prefix + "…",
                r.created_at,
                r.last_used_at,
                r.expires_at,
                r.revoked_at,
            ]
            for r in records
        ],
    )


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (from idsync token list).")],
    org: Annotated[
        str | None, typer.Option("--org", help="Check the token belongs to this org.")
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Revoke a token: every request with it is refused from now on (IDS-401-001)."""
    record = tokens.revoke(open_db(database), token_id, actor="cli", org_id=org)
    if json:
        emit_json(record)
    else:
        console.print(f"Revoked token {record.id} ({record.prefix}…)")
