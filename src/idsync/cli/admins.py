"""``idsync admin``: the operators who sign in to the console and the management API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db, table
from idsync.manage import operators

app = typer.Typer(
    help="Create, list and remove console operators, their passwords and API keys.",
    no_args_is_help=True,
)
keys = typer.Typer(help="API keys for scripts: each acts as its operator.", no_args_is_help=True)
app.add_typer(keys, name="key")

EmailArgument = Annotated[str, typer.Argument(help="The operator's e-mail address.")]


def _password() -> str:
    """The password from stdin when it is not a terminal (scripts), else asked twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("create")
def create(
    email: EmailArgument,
    role: Annotated[
        str,
        typer.Option(
            help="full (everything), users (users, groups and running integrations, not "
            "credentials or tokens) or readonly."
        ),
    ],
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organisation id; without it, every organisation."),
    ] = None,
    no_password: Annotated[
        bool,
        typer.Option(
            "--no-password",
            help="Sign in only with the OpenID Connect provider (IDSYNC_OIDC_ISSUER).",
        ),
    ] = False,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Create an operator. The password is read from stdin, or asked for at a terminal."""
    password = None if no_password else _password()
    record = operators.create_operator(open_db(database), email, password, role, org, actor="cli")
    if json:
        emit_json(record)
        return
    scope = f"organisation {record.org_id}" if record.org_id else "every organisation"
    console.print(f"Created operator [bold]{record.email}[/] ({record.role}, {scope}).")
    console.print("Next: idsync serve, then sign in at http://127.0.0.1:8080/admin")


@app.command("list")
def list_(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's.")] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """List operators (never their passwords)."""
    records = operators.list_operators(open_db(database), org)
    if json:
        emit_json(records)
        return
    table(
        "Operators",
        ["email", "role", "org", "last sign-in", "locked until"],
        [
            [r.email, r.role, r.org_id or "(all)", r.last_sign_in_at, r.locked_until]
            for r in records
        ],
    )


@app.command("remove")
def remove(email: EmailArgument, database: DatabaseOption = None) -> None:
    """Remove an operator; its sessions and API keys end with it."""
    record = operators.remove_operator(open_db(database), email, actor="cli")
    console.print(f"Removed operator {record.email}.")


@app.command("reset-password")
def reset_password(email: EmailArgument, database: DatabaseOption = None) -> None:
    """Set a new password (stdin, or asked for); unlocks the account, ends its sessions."""
    record = operators.reset_password(open_db(database), email, _password(), actor="cli")
    console.print(f"New password set for {record.email}; its sessions were ended.")


@keys.command("create")
def key_create(
    email: EmailArgument,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'nightly report'.")],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Issue an API key for the management API. It is shown once."""
    issued = operators.create_key(open_db(database), email, name, actor="cli")
    if json:
        emit_json({"id": issued.record.id, "prefix": issued.record.prefix, "key": issued.secret})
        return
    console.print(f"API key [bold]{issued.record.id}[/] for {email}:")
    console.print(issued.secret, highlight=False, soft_wrap=True)
    console.print("Copy it now: it cannot be shown again. Send it as 'Authorization: Bearer …'.")


@keys.command("list")
def key_list(
    email: EmailArgument, database: DatabaseOption = None, json: JsonOption = False
) -> None:
    """List an operator's API keys (never the keys themselves)."""
    records = operators.list_keys(open_db(database), email)
    if json:
        emit_json(records)
        return
    table(
        "API keys",
        ["id", "name", "prefix", "created", "last used", "revoked"],
        [
            [r.id, r.name, r.prefix + "…", r.created_at, r.last_used_at, r.revoked_at]
            for r in records
        ],
    )


@keys.command("revoke")
def key_revoke(
    email: EmailArgument,
    key_id: Annotated[str, typer.Argument(help="The key's id (idsync admin key list EMAIL).")],
    database: DatabaseOption = None,
) -> None:
    """Revoke an API key at once."""
    operators.revoke_key(open_db(database), email, key_id, actor="cli")
    console.print(f"Revoked API key {key_id}.")
