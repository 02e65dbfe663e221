"""``idsync integration``: connect directories to an organisation."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db, table
from idsync.cli.integration_add import add_app, secret_file
from idsync.config import Settings
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.sync import integrations

app = typer.Typer(
    help="Connect directories (Entra ID, Active Directory/LDAP, SCIM, files) and applications "
    "to an organisation.",
    no_args_is_help=True,
)
app.add_typer(add_app, name="add")

IntegrationArgument = Annotated[str, typer.Argument(help="Integration id (or its unique name).")]


def describe(record: IntegrationRecord, job: JobRecord | None = None) -> dict[str, Any]:
    """An integration as the CLI shows it: settings, never credentials."""
    described: dict[str, Any] = {
        "id": record.id,
        "org_id": record.org_id,
        "kind": record.kind,
        "direction": record.direction,
        "name": record.name,
        "settings": record.settings,
        "credentials": "stored (encrypted)" if record.secrets else "none",
        "matching_attribute": record.matching_attribute,
        "mappings": record.mappings,
        "scoping": record.scoping,
        "interval_seconds": record.interval_seconds,
        "auto_sync": record.auto_sync,
        "deletion_threshold": record.deletion_threshold,
        "adopt_existing": record.adopt_existing,
        "created_at": record.created_at,
    }
    if job is not None:
        described["job"] = {
            "status": job.status,
            "reason_code": job.reason_code,
            "reason": job.reason,
            "last_cycle_at": job.last_cycle_at,
            "next_run_at": job.next_run_at,
            "successive_failures": job.successive_failures,
        }
    return described


@app.command("list")
def list_(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation.")] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """List integrations and the status of their jobs."""
    rows = integrations.list_integrations(open_db(database), org)
    if json:
        emit_json([describe(record, job) for record, job in rows])
        return
    table(
        "Integrations",
        ["id", "org", "kind", "name", "status", "auto sync", "last cycle"],
        [[r.id, r.org_id, r.kind, r.name, j.status, r.auto_sync, j.last_cycle_at] for r, j in rows],
    )


@app.command("show")
def show(
    integration: IntegrationArgument, database: DatabaseOption = None, json: JsonOption = False
) -> None:
    """Show one integration (credentials are never shown)."""
    db = open_db(database)
    record = integrations.get_integration(db, integration)
    described = describe(record, integrations.get_job(db, record.id))
    if json:
        emit_json(described)
        return
    table(
        f"Integration {record.name}",
        ["setting", "value"],
        [
            [k, jsonlib.dumps(v, default=str) if isinstance(v, dict | list) else v]
            for k, v in described.items()
        ],
    )


@app.command("update")
def update(
    integration: IntegrationArgument,
    client_secret: Annotated[str | None, typer.Option(help="A new client secret.")] = None,
    password_file: Annotated[
        Path | None, typer.Option(help="LDAP: a file holding the new bind password.")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="SCIM: a file holding the new bearer token.")
    ] = None,
    interval: Annotated[int | None, typer.Option(help="Minutes between cycles.")] = None,
    auto_sync: Annotated[bool | None, typer.Option(help="Run cycles on schedule.")] = None,
    deletion_threshold: Annotated[
        int | None, typer.Option(help="Deletion threshold (0: none).")
    ] = None,
    adopt_existing: Annotated[
        bool | None, typer.Option(help="Take over unowned matching objects.")
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Change an integration's settings or credentials."""
    secrets = {
        key: value
        for key, value in (
            ("client_secret", client_secret),
            ("password", secret_file(password_file, "bind password")),
            ("token", secret_file(token_file, "bearer token")),
        )
        if value
    }
    record = integrations.update_integration(
        open_db(database),
        Settings.from_env(),
        integration,
        actor="cli",
        secrets=secrets or None,
        interval_seconds=interval * 60 if interval is not None else None,
        auto_sync=auto_sync,
        deletion_threshold=deletion_threshold,
        adopt_existing=adopt_existing,
    )
    if json:
        emit_json(describe(record))
    else:
        console.print(f"Integration {record.id} updated.")


@app.command("remove")
def remove(
    integration: IntegrationArgument, database: DatabaseOption = None, json: JsonOption = False
) -> None:
    """Remove an integration. The users and groups it provisioned stay, owned by no integration."""
    record = integrations.remove_integration(open_db(database), integration, actor="cli")
    if json:
        emit_json({"id": record.id, "removed": True})
    else:
        console.print(f"Integration {record.id} removed; its users and groups stay in the hub.")
