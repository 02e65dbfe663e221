"""The ``idsync`` command."""

from __future__ import annotations

import typer

from idsync.cli import audit, db, orgs, schemas, serve, tokens
from idsync.cli.common import fail
from idsync.health.catalogue import IdsyncError

app = typer.Typer(
    name="idsync",
    help="Identity sync hub: a SCIM 2.0 service provider that explains every failure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.command("openapi")(serve.openapi)
app.add_typer(orgs.app, name="org")
app.add_typer(tokens.app, name="token")
app.add_typer(schemas.app, name="schema")
app.add_typer(audit.app, name="audit")
app.add_typer(db.app, name="db")


def main() -> None:
    try:
        app()
    except IdsyncError as exc:
        fail(exc)
