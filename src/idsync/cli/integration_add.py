"""``idsync integration add entra|ldap|scim|file``: connect a directory or an application.

One command per connector, its options generated from the connector's description
(settings) and the job options every kind shares (:mod:`idsync.cli.integration_flags`).
Every kind prints the same thing: the integration, as ``show`` does. Secrets are read
from files (``-`` for standard input), never from the command line, where other users
of the machine could read them.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db
from idsync.cli.integration_flags import (
    JOB_PANEL,
    Flag,
    command,
    flags_of,
    given,
    options_given,
    parameter_name,
    plain_parameter,
    scoping_rules,
    setting_parameter,
    shortcut_parameter,
    shown_default,
    with_default,
)
from idsync.config import Settings
from idsync.connectors import registry
from idsync.connectors.description import Connector, Setting, nested
from idsync.manage import integrations
from idsync.manage.integrations import JOB_OPTIONS, IntegrationOptions, add_rules, default_options

add_app = typer.Typer(help="Add an integration.", no_args_is_help=True)

JOB_FLAGS = [Flag(parameter_name(s.flag), {"*": s}) for s in JOB_OPTIONS]
"""The job options every kind shares (interval, auto sync, threshold, matching, …)."""


def common_parameters() -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("database", keyword, annotation=DatabaseOption, default=None),
        inspect.Parameter("json", keyword, annotation=JsonOption, default=False),
    ]


def job_parameters(connector: Connector | None) -> list[inspect.Parameter]:
    """The job options; with a connector (``add``), their defaults for that kind."""
    return [
        setting_parameter(
            item,
            panel=JOB_PANEL,
            required=False,
            default=_job_default(connector, item) if connector else "",
        )
        for item in JOB_OPTIONS
    ]


def _job_default(connector: Connector, item: Setting) -> str:
    shown = {
        direction: shown_default(item, default_options(connector.kind, direction)[item.name])
        for direction in connector.directions
    }
    if len(set(shown.values())) == 1:
        return next(iter(shown.values()))
    return ", ".join(f"{value} when {direction}" for direction, value in shown.items() if value)


def _add_command(connector: Connector) -> None:
    flags = flags_of(connector)
    parameters = [
        plain_parameter("org", str, typer.Option("--org", help="Organisation id.")),
        plain_parameter(
            "name",
            str | None,
            typer.Option(
                help=with_default(
                    "Name of the integration in this organisation.", connector.default_name
                ),
                show_default=False,
            ),
            None,
        ),
        *(
            setting_parameter(
                item,
                panel=f"{connector.title} settings",
                required=item.required,
                default=shown_default(item, item.default),
            )
            for item in connector.settings
        ),
        *job_parameters(connector),
        *(shortcut_parameter(shortcut) for shortcut in connector.scoping_shortcuts),
        *common_parameters(),
    ]
    if len(connector.directions) > 1:
        parameters.append(_direction_parameter(connector))

    def run(values: dict[str, Any]) -> None:
        _add(connector, flags, values)

    callback = command(f"add-{connector.kind}", parameters, run, connector.summary)
    add_app.command(connector.kind, help=connector.summary)(callback)


def _direction_parameter(connector: Connector) -> inspect.Parameter:
    words = {
        "push": "provision the organisation into the application",
        "source": "read the application's users and groups into the organisation",
    }
    return plain_parameter(
        "direction",
        str | None,
        typer.Option(
            metavar="|".join(connector.directions),
            help=with_default(
                "; ".join(f"{d}: {words[d]}" for d in connector.directions) + ".",
                connector.directions[0],
            ),
            show_default=False,
        ),
        None,
    )


def _add(connector: Connector, flags: list[Flag], values: dict[str, Any]) -> None:
    from idsync.cli.integrations import describe

    direction = values.get("direction") or connector.directions[0]
    settings, secrets = given(flags, connector.kind, values)
    options = {**default_options(connector.kind, direction), **options_given(JOB_FLAGS, values)}
    rules = scoping_rules(connector.scoping_shortcuts, values)
    if rules:
        options["scoping"] = add_rules(options["scoping"], rules)
    record = integrations.add_integration(
        open_db(values["database"]),
        Settings.from_env(),
        org_id=values["org"],
        kind=connector.kind,
        name=values["name"] or connector.default_name,
        settings=nested(settings),
        secrets=nested(secrets),
        options=IntegrationOptions(**options),
        actor="cli",
        direction=direction,
    )
    if values["json"]:
        emit_json(describe(record))
        return
    console.print(
        f"Integration [bold]{record.id}[/] ({record.name}) added to organisation {record.org_id}.",
        soft_wrap=True,
    )
    console.print(f"First sync: idsync sync run {record.id}", soft_wrap=True)


for _connector in registry.connectors():
    _add_command(_connector)
