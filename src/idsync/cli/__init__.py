"""The ``idsync`` command."""

from __future__ import annotations

import os
import sys

import typer

from idsync.cli import (
    admins,
    audit,
    db,
    debug,
    demo,
    doctor,
    emulator,
    integrations,
    orgs,
    repair,
    schemas,
    serve,
    sync,
    tokens,
    validate,
    worker,
)
from idsync.cli.common import fail
from idsync.errors.catalogue import IdsyncError
from idsync.logs import configure

app = typer.Typer(
    name="idsync",
    help="Identity sync hub: a SCIM 2.0 service provider that explains every failure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.command("openapi")(serve.openapi)
app.command("emulator")(emulator.emulator)
app.command("worker")(worker.worker)
app.command("doctor")(doctor.doctor)
app.command("debug-info")(debug.debug_info)
app.add_typer(orgs.app, name="org")
app.add_typer(admins.app, name="admin")
app.add_typer(tokens.app, name="token")
app.add_typer(schemas.app, name="schema")
app.add_typer(audit.app, name="audit")
app.add_typer(db.app, name="db")
app.add_typer(integrations.app, name="integration")
app.add_typer(sync.app, name="sync")
app.add_typer(demo.app, name="demo")
app.command("validate")(validate.validate)
app.command("repair")(repair.repair)


def main() -> None:
    # Commands log warnings and errors only (on stderr, so --json output stays clean): as
    # JSON lines for log collectors, as readable lines for a person at a terminal.
    # `serve` reconfigures from its own flags.
    shown = "console" if sys.stderr.isatty() else "json"
    configure(
        os.environ.get("IDSYNC_LOG_LEVEL", "warning"), os.environ.get("IDSYNC_LOG_FORMAT", shown)
    )
    try:
        app()
    except IdsyncError as exc:
        fail(exc)
