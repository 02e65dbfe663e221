"""``idsync org``: organisations (tenants)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db, table
from idsync.config import Settings
from idsync.errors.catalogue import INVALID_ARGUMENT, IdsyncError
from idsync.manage import alerts, orgs

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
    directory_sync: Annotated[
        str | None,
        typer.Option(
            help="on: the org's integrations run their cycles; off: none of them does "
            "(the console's 'Allow directory sync' switch).",
        ),
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Change an organisation's settings."""
    if group_patch_response is None and patch_upsert is None and directory_sync is None:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what="org set",
            reason="it names no setting to change",
            hint="Give --group-patch-response, --patch-upsert or --directory-sync "
            "(see: idsync org set --help).",
        )
    db = open_db(database)
    record = orgs.get_org(db, org_id)
    if group_patch_response is not None:
        record = orgs.set_group_patch_response(db, org_id, group_patch_response, actor="cli")
    if patch_upsert is not None:
        record = orgs.set_patch_upsert(db, org_id, patch_upsert, actor="cli")
    if directory_sync is not None:
        if directory_sync not in ("on", "off"):
            raise IdsyncError(
                INVALID_ARGUMENT,
                what=f"--directory-sync {directory_sync}",
                reason="it is neither on nor off",
                hint="Use --directory-sync on or --directory-sync off.",
            )
        record = orgs.set_directory_sync(db, org_id, directory_sync == "on", actor="cli")
    if json:
        emit_json(record)
        return
    if group_patch_response is not None:
        console.print(f"Group PATCH now answers with: {record.group_patch_response}")
    if patch_upsert is not None:
        console.print(
            f"Unmatched PATCH value filters now create the value for: {record.patch_upsert}"
        )
    if directory_sync is not None:
        console.print(f"Directory sync is now {'on' if record.directory_sync else 'off'}")


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


@app.command("alerts")
def alerts_(
    org_id: Annotated[str, typer.Argument(help="Organisation id.")],
    webhook_url: Annotated[
        str | None,
        typer.Option(help="POST alerts (JSON, signed) to this URL; turns the webhook on."),
    ] = None,
    webhook_secret_file: Annotated[
        str | None,
        typer.Option(
            help="A file holding the webhook's signing secret alone (- reads standard input)."
        ),
    ] = None,
    email: Annotated[
        list[str] | None,
        typer.Option(
            help="Send alert e-mails to this address (repeat for several; replaces the list) "
            "through the IDSYNC_SMTP_* server; turns e-mail on."
        ),
    ] = None,
    no_webhook: Annotated[bool, typer.Option(help="Turn the webhook off (kept).")] = False,
    no_email: Annotated[bool, typer.Option(help="Turn e-mail off (kept).")] = False,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Show or change where the organisation's alerts go: when a sync job enters
    Quarantine or Disabled, and when it recovers (docs/health.md, "Alerts")."""
    db = open_db(database)
    secret = _read_secret(webhook_secret_file) if webhook_secret_file else None
    if any(x is not None for x in (webhook_url, secret, email)) or no_webhook or no_email:
        shown = alerts.configure(
            db,
            Settings.from_env(),
            org_id,
            actor="cli",
            webhook_url=webhook_url,
            webhook_secret=secret,
            recipients=email,
            webhook=False if no_webhook else None,
            email=False if no_email else None,
        )
    else:
        shown = alerts.get_settings(db, org_id)
    if json:
        emit_json(shown)
        return
    table(
        "Alerts",
        ["channel", "on", "where"],
        [
            [
                "webhook",
                "yes" if shown.webhook_enabled else "no",
                (shown.webhook_url or "")
                + (" (signing secret set)" if shown.webhook_secret_set else ""),
            ],
            ["email", "yes" if shown.email_enabled else "no", ", ".join(shown.recipients)],
        ],
    )


@app.command("alerts-test")
def alerts_test(
    org_id: Annotated[str, typer.Argument(help="Organisation id.")],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Send a test alert through the organisation's webhook and e-mail, now."""
    results = alerts.send_test(open_db(database), Settings.from_env(), org_id, actor="cli")
    if json:
        emit_json(results)
        return
    for result in results:
        console.print(f"{result.channel}: delivered ({result.attempts} attempt(s))")


def _read_secret(path: str) -> str:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what="--webhook-secret-file",
            reason=f"the file {path!r} cannot be read ({exc.strerror})",
            hint="Give a readable file holding only the secret, or - to read standard input.",
        ) from None
    secret = text.strip()
    if len(secret) < 16:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what="The webhook secret",
            reason="it is shorter than 16 characters",
            hint="Use a long random one, e.g. from: openssl rand -hex 32.",
        )
    return secret
