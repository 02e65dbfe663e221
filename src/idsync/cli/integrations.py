"""``idsync integration``: connect directories to an organisation."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from idsync.cli import integration_view as view
from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db
from idsync.cli.integration_add import JOB_FLAGS, add_app, common_parameters, job_parameters
from idsync.cli.integration_flags import (
    Flag,
    command,
    given,
    not_for,
    options_given,
    parameter_name,
    plain_parameter,
    scoping_rules,
    setting_parameter,
    shortcut_parameter,
)
from idsync.config import Settings
from idsync.connectors import registry
from idsync.connectors.description import Setting
from idsync.connectors.registry import KINDS
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError
from idsync.manage import integrations
from idsync.manage.integrations import IntegrationRecord, JobRecord

app = typer.Typer(
    help="Connect directories (Entra ID, Active Directory/LDAP, SCIM, files) and applications "
    "to an organisation.",
    no_args_is_help=True,
)
app.add_typer(add_app, name="add")

INTEGRATION_HELP = "Integration id (or its unique name)."
IntegrationArgument = Annotated[str, typer.Argument(help=INTEGRATION_HELP)]


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
    view.listing(console, rows, org)


@app.command("show")
def show(
    integration: IntegrationArgument, database: DatabaseOption = None, json: JsonOption = False
) -> None:
    """Show one integration: its settings (never its credentials) and its job."""
    db = open_db(database)
    record = integrations.get_integration(db, integration)
    job = integrations.get_job(db, record.id)
    if json:
        emit_json(describe(record, job))
        return
    view.show(console, registry.connector(record.kind), record, job)


def _update_flags() -> list[Flag]:
    """One flag per setting name across kinds (``--url`` is LDAP's and SCIM's)."""
    by_flag: dict[str, dict[str, Setting]] = {}
    for described in registry.connectors():
        for item in described.settings:
            by_flag.setdefault(item.flag, {})[described.kind] = item
    for flag, settings in by_flag.items():
        shapes = {(s.kind, s.file, s.secret, s.off_flag) for s in settings.values()}
        if len(shapes) > 1:
            raise TypeError(f"{flag} means different kinds of values for {sorted(settings)}")
    return [Flag(parameter_name(flag), settings) for flag, settings in by_flag.items()]


def _update_parameter(flag: Flag) -> inspect.Parameter:
    items = flag.settings
    first = next(iter(items.values()))
    helps = {item.help for item in items.values()}
    if len(helps) == 1:
        text = f"{first.help} [{', '.join(items)}]" if len(items) < len(KINDS) else first.help
    else:
        text = " · ".join(f"{kind}: {item.help}" for kind, item in items.items())
    panel = (
        f"{registry.connector(next(iter(items))).title} settings"
        if len(items) == 1
        else "Settings of several kinds"
    )
    return setting_parameter(first, panel=panel, required=False, help_text=text)


UPDATE_FLAGS = _update_flags()
SHORTCUTS = {s.flag: s for c in registry.connectors() for s in c.scoping_shortcuts}


def _update(values: dict[str, Any]) -> None:
    db = open_db(values["database"])
    record = integrations.get_integration(db, values["integration"])
    described = registry.connector(record.kind)
    own = {s.flag for s in described.scoping_shortcuts}
    wrong = not_for(UPDATE_FLAGS, record.kind, values) + [
        flag for flag in SHORTCUTS if flag not in own and values.get(parameter_name(flag))
    ]
    if wrong:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"{', '.join(wrong)}: not a setting of {described.title} integrations",
            hint=f"See idsync integration update --help, panel '{described.title} settings'.",
        )
    settings, secrets = given(UPDATE_FLAGS, record.kind, values)
    changes = integrations.Changes(
        settings=settings,
        secrets=secrets,
        options=options_given(JOB_FLAGS, values),
        unset=tuple(values["unset"] or ()),
        name=values["name"],
        scoping_rules=scoping_rules(described.scoping_shortcuts, values),
    )
    updated = integrations.update_integration(
        db, Settings.from_env(), record.id, changes, actor="cli"
    )
    if values["json"]:
        emit_json(
            {
                **describe(updated.record),
                "changed": updated.changed,
                "full_read_next": updated.full_read,
            }
        )
        return
    if not updated.changed:
        console.print(f"Integration {record.id}: nothing to change.", soft_wrap=True)
        return
    console.print(f"Integration {record.id} updated: {', '.join(updated.changed)}.", soft_wrap=True)
    if updated.full_read:
        console.print("The next cycle reads everything again.")


app.command(
    "update",
    help="Change an integration's settings, credentials or job options; they are checked "
    "as a whole, as when it was added.",
)(
    command(
        "update",
        [
            plain_parameter("integration", str, typer.Argument(help=INTEGRATION_HELP)),
            plain_parameter("name", str | None, typer.Option(help="Rename the integration."), None),
            plain_parameter(
                "unset",
                list[str] | None,
                typer.Option(
                    metavar="SETTING",
                    help="Take a setting or job option back to its default, by name or flag "
                    "(e.g. group-base); repeatable.",
                ),
                None,
            ),
            *(_update_parameter(flag) for flag in UPDATE_FLAGS),
            *job_parameters(None),
            *(shortcut_parameter(shortcut) for shortcut in SHORTCUTS.values()),
            *common_parameters(),
        ],
        _update,
        "Change an integration's settings, credentials or job options.",
    )
)


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
