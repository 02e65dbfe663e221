"""``idsync integration``: connect directories to an organisation."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db, table
from idsync.config import Settings
from idsync.connectors.entra.settings import MICROSOFT_AUTHORITY, MICROSOFT_GRAPH
from idsync.health.catalogue import INVALID_INTEGRATION, IdsyncError
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.sync import integrations
from idsync.sync.integrations import (
    DEFAULT_DELETION_THRESHOLD,
    DEFAULT_INTERVAL_SECONDS,
    IntegrationOptions,
)

app = typer.Typer(
    help="Connect directories (Entra ID, …) to an organisation.", no_args_is_help=True
)
add_app = typer.Typer(help="Add an integration.", no_args_is_help=True)
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


def _json_file(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        value = jsonlib.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"{what} file {str(path)!r}: {exc}",
            hint="Give a readable JSON file (see docs/sync.md).",
        ) from None
    if not isinstance(value, dict):
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"{what} must be a JSON object",
            hint='e.g. {"user": [...], "group": [...]}',
        )
    return value


@add_app.command("entra")
def add_entra(
    org: Annotated[str, typer.Option("--org", help="Organisation id.")],
    tenant_id: Annotated[str, typer.Option(help="Directory (tenant) id.")],
    client_id: Annotated[
        str, typer.Option(help="Application (client) id of the app registration.")
    ],
    client_secret: Annotated[
        str | None, typer.Option(help="Client secret (stored encrypted).")
    ] = None,
    certificate_key: Annotated[
        Path | None, typer.Option(help="PEM private key of a certificate credential.")
    ] = None,
    certificate_thumbprint: Annotated[
        str | None, typer.Option(help="SHA-1 thumbprint of that certificate.")
    ] = None,
    name: Annotated[
        str, typer.Option(help="Name of the integration in this organisation.")
    ] = "Entra ID",
    authority: Annotated[str, typer.Option(help="Login endpoint.")] = MICROSOFT_AUTHORITY,
    graph_url: Annotated[str, typer.Option(help="Microsoft Graph endpoint.")] = MICROSOFT_GRAPH,
    ca_file: Annotated[
        Path | None, typer.Option(help="PEM CA bundle to trust (default: the system's).")
    ] = None,
    page_size: Annotated[int, typer.Option(help="Objects per Graph page (1-999).")] = 999,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each Graph response.")] = 30.0,
    interval: Annotated[
        int, typer.Option(help="Minutes between cycles.")
    ] = DEFAULT_INTERVAL_SECONDS // 60,
    auto_sync: Annotated[bool, typer.Option(help="Run cycles on schedule.")] = True,
    deletion_threshold: Annotated[
        int, typer.Option(help="Stop a cycle that would delete or disable more (0: no limit).")
    ] = DEFAULT_DELETION_THRESHOLD,
    adopt_existing: Annotated[
        bool,
        typer.Option(
            help="Take over hub objects with the same userName/displayName that no integration owns."
        ),
    ] = False,
    matching_attribute: Annotated[
        str,
        typer.Option(
            help="How a new directory object finds an existing hub object: userName "
            "(displayName for groups) or externalId (the directory's object id)."
        ),
    ] = "userName",
    scope_group: Annotated[
        list[str],
        typer.Option(
            help="Provision only this group and its direct user members (Entra's "
            '"assigned users and groups"); repeatable, by object id.'
        ),
    ] = [],  # noqa: B006 - typer needs a list default for a repeatable option
    enabled_only: Annotated[bool, typer.Option(help="Only provision enabled accounts.")] = False,
    mappings: Annotated[
        Path | None, typer.Option(help="JSON file of attribute mapping overrides.")
    ] = None,
    scoping: Annotated[Path | None, typer.Option(help="JSON file of scoping rules.")] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Connect an Entra ID tenant: users and groups sync into the organisation by Graph delta queries."""
    secrets: dict[str, Any] = {}
    if client_secret:
        secrets["client_secret"] = client_secret
    if certificate_key or certificate_thumbprint:
        if not (certificate_key and certificate_thumbprint):
            raise IdsyncError(
                INVALID_INTEGRATION,
                reason="a certificate needs both its key and its thumbprint",
                hint="Give --certificate-key and --certificate-thumbprint.",
            )
        secrets["certificate"] = {
            "private_key": certificate_key.read_text(),
            "thumbprint": certificate_thumbprint,
        }
    scope = _json_file(scoping, "scoping") or {}
    if enabled_only:
        scope.setdefault("user", []).append({"attribute": "accountEnabled", "operator": "IS_TRUE"})
    if scope_group:
        scope["groups"] = [*scope.get("groups", []), *scope_group]
    settings = {
        "tenant_id": tenant_id,
        "client_id": client_id,
        "authority": authority,
        "graph_url": graph_url,
        "ca_file": str(ca_file.resolve()) if ca_file else None,
        "page_size": page_size,
        "timeout": timeout,
    }
    record = integrations.add_integration(
        open_db(database),
        Settings.from_env(),
        org_id=org,
        kind="entra",
        name=name,
        settings=settings,
        secrets=secrets,
        options=IntegrationOptions(
            interval_seconds=interval * 60,
            auto_sync=auto_sync,
            deletion_threshold=deletion_threshold,
            adopt_existing=adopt_existing,
            matching_attribute=matching_attribute,
            mappings=_json_file(mappings, "mappings"),
            scoping=scope,
        ),
        actor="cli",
    )
    if json:
        emit_json(describe(record))
        return
    console.print(
        f"Integration [bold]{record.id}[/] ({record.name}) added to organisation {record.org_id}."
    )
    console.print(f"First sync: idsync sync run {record.id}")


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
    record = integrations.update_integration(
        open_db(database),
        Settings.from_env(),
        integration,
        actor="cli",
        secrets={"client_secret": client_secret} if client_secret else None,
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
