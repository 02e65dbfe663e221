"""Every command idsync prints as advice exists and runs as printed.

The commands are taken from the error catalogue's texts (filled as an error would fill
them, with integration names that need shell quoting), from every string in the
source (hints, printed next steps) and from the docs; each is parsed against the real
``idsync`` command tree, so a flag that does not exist fails here. The catalogue's
commands are also run, as subprocesses, against a database holding one integration of
each kind.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import string
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.fernet import Fernet
from typer._click.exceptions import MissingParameter  # Typer carries its own click
from typer.core import TyperGroup

from idsync.cli import app
from idsync.connectors import registry
from idsync.connectors.description import Setting
from idsync.errors.catalogue import CATALOGUE, ErrorCode, IdsyncError
from idsync.manage.integrations import JOB_OPTIONS
from tests.commands import run_idsync
from tests.docs.markdown import steps

ROOT = Path(__file__).resolve().parents[2]
CLI = typer.main.get_command(app)
assert isinstance(CLI, TyperGroup)
TOP = sorted(CLI.commands)
# "idsync <command>" starts a command; prose such as "idsync reads …" does not.
START = re.compile(r"\bidsync (?=(?:" + "|".join(TOP) + r")\b)")
# Where a command printed inside a sentence ends.
END = re.compile(r"\)|\(|, |; |: |\.(?:\s|$)| or | then | if | and |`|\[/|$")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w{-])")
PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_]*(?:=[A-Z_]+)?|…)$")

# One integration of each kind, named as administrators name them: with spaces.
NAMES = {
    "entra": "Entra ID",
    "ldap": "Corp Directory",
    "scim": "SCIM application",
    "file": "HR file",
}
URN = "urn:example:params:scim:schemas:extension:Advice:2.0:User"
WHERE = "the cycle"  # what any other template parameter is filled with
OPERATOR = "ana@advice.example"  # the console operator of the hub below
OPERATOR_PASSWORD = "correct horse battery staple"

# The credentials key of these commands (no key file is written into the checkout).
KEY = Fernet.generate_key().decode()


def commands_in(text: str) -> list[str]:
    found = []
    for start in START.finditer(text):
        rest = text[start.start() :]
        end = END.search(rest, len("idsync "))
        found.append(rest[: end.start() if end else len(rest)].strip())
    return found


def parse(args: list[str], complete: bool = True) -> Any:
    """The context the real command tree makes of ``args`` (raises on a bad option).
    Not ``complete``: a mention of a command in prose, which may leave arguments out."""
    if "--help" in args:  # valid wherever the command exists: parse what comes before it
        args = args[: args.index("--help")]
        complete = False
    try:
        return _context(args)
    except MissingParameter:
        if complete:
            raise
        return None


def _context(args: list[str]) -> Any:
    ctx = CLI.make_context("idsync", list(args))
    while isinstance(ctx.command, TyperGroup):
        # click keeps the sub-command and its arguments aside until it invokes the group.
        pending = [*ctx._protected_args, *ctx.args]
        if not pending and ctx.command.invoke_without_command:  # ``idsync demo`` itself
            return ctx
        name, command, rest = ctx.command.resolve_command(ctx, pending)
        assert command is not None and name is not None
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx


def every_option(command: Any) -> Iterator[str]:
    for param in command.params:
        yield from (*param.opts, *param.secondary_opts)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            yield from every_option(sub)


OPTIONS = {*every_option(CLI), "--help"}


# --- the catalogue ------------------------------------------------------------------------------


def filled(entry: ErrorCode) -> str:
    """The entry's message and action as an error of it would print them."""
    fields = {
        name
        for template in (entry.message, entry.action)
        for _, name, _, _ in string.Formatter().parse(template)
        if name
    }
    values: dict[str, Any] = {name: WHERE for name in fields}
    # An organisation is named by its id, which the runs below fill in.
    values.update(integration=NAMES["entra"], schema=URN, org="<org id>")
    values.update(suggestion="ldaps://dc1.example.org")  # a URL the certificate names
    error = IdsyncError(entry, **values)
    return f"{error.message} {error.action}"


CATALOGUE_COMMANDS = sorted(
    {command for entry in CATALOGUE.values() for command in commands_in(filled(entry))}
)


def test_the_catalogue_advises_commands() -> None:
    # The extraction must keep finding them, or the tests below prove nothing.
    assert len(CATALOGUE_COMMANDS) > 20
    assert "idsync sync restart 'Entra ID' --reset quarantine" in CATALOGUE_COMMANDS


@pytest.mark.parametrize("command", CATALOGUE_COMMANDS)
def test_a_catalogue_command_parses_as_printed(command: str) -> None:
    parse(_args(command))


@pytest.mark.parametrize(
    "flag", sorted({f for e in CATALOGUE.values() for f in FLAG.findall(filled(e))})
)
def test_every_flag_the_catalogue_names_exists(flag: str) -> None:
    assert flag in OPTIONS


# --- running them -------------------------------------------------------------------------------


def _kind_of(args: list[str]) -> str:
    """The kind of integration a command is advice for: the one that has its flags."""
    flags = {a for a in args if a.startswith("--")}
    for kind in NAMES:
        own = {s.flag for s in registry.connector(kind).settings}
        if flags & own and flags - own <= {s.flag for s in JOB_OPTIONS} | {"--reset"}:
            return kind
    return "entra"


def _setting(flag: str, kind: str | None) -> Setting | None:
    kinds = [kind] if kind else list(NAMES)
    every = [s for k in kinds for s in registry.connector(k).settings] + list(JOB_OPTIONS)
    return next((s for s in every if flag in (s.flag, s.off_flag)), None)


def _args(
    command: str, org_id: str = "org", kind: str | None = None, folder: Path | None = None
) -> list[str]:
    """The arguments of ``idsync …``, placeholders filled: ``<org id>`` with the
    organisation; ``FILE``, ``DN``, ``…`` after a flag with the example value of the flag's
    setting (a file holding it, for settings read from a file, when ``folder`` is given).
    With a ``kind``, every placeholder must be filled (the command is run)."""
    args = shlex.split(command.replace("<org id>", org_id), comments=True)[1:]
    result: list[str] = []
    for arg in args:
        if arg == "EMAIL":  # an operator's address: the hub's own, or a new one to create
            arg = (
                f"new-{uuid.uuid4().hex[:8]}@advice.example"
                if args[:2] == ["admin", "create"]
                else OPERATOR
            )
        elif arg == "NAME" and result and result[-1] == "--name":
            arg = "advice"
        if PLACEHOLDER.match(arg) and result and result[-1].startswith("--"):
            item = _setting(result[-1], kind)
            if item is None or not item.example:
                assert kind is None, f"{result[-1]} has no example to fill {arg} with"
                result.append(arg)
                continue
            arg = item.example
            if (item.file or item.kind == "json_file") and folder is not None:
                path = folder / item.name
                path.write_text(item.example)
                arg = str(path)
        assert kind is None or not PLACEHOLDER.match(arg), f"placeholder {arg} left"
        result.append(arg)
    return result


def idsync(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_idsync(
        [*args, "--database", database],
        input=OPERATOR_PASSWORD + "\n",  # a command that reads a password reads it here
        text=True,
        timeout=120,
        env={**os.environ, "IDSYNC_SECRET_KEY": KEY},
        check=False,
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A database with an organisation, a declared schema and one integration per kind."""
    folder = tmp_path_factory.mktemp("advice")
    database = f"sqlite:///{folder / 'advice.db'}"
    org = json.loads(idsync(database, "org", "create", "Advice", "--json").stdout)["id"]
    made = idsync(database, "admin", "create", OPERATOR, "--role", "full", "--org", org)
    assert made.returncode == 0, made.stderr
    schema = folder / "schema.json"
    schema.write_text(json.dumps({"id": URN, "name": "Advice", "attributes": []}))
    assert idsync(database, "schema", "add", "--org", org, str(schema)).returncode == 0
    secret = folder / "secret"
    secret.write_text("s3cret-value")
    common = ("--org", org, "--no-auto-sync")
    adds = {
        "entra": ("--tenant-id", "t", "--client-id", "c", "--client-secret-file", str(secret)),
        "ldap": (
            "--url",
            "ldaps://dc1.example.org",
            "--bind-dn",
            "cn=a,dc=x",
            "--password-file",
            str(secret),
            "--user-base",
            "dc=x",
        ),
        "scim": ("--url", "https://app.example.com/scim/v2", "--token-file", str(secret)),
        "file": ("--users", str(folder / "users.csv")),
    }
    for kind, options in adds.items():
        added = idsync(
            database, "integration", "add", kind, "--name", NAMES[kind], *common, *options
        )
        assert added.returncode == 0, added.stderr
    return {"database": database, "org": org, "folder": folder}


# Not run here, only parsed: servers that run until stopped, cycles, which need the
# integration's directory or application (tests/sync runs the advised cycles, e.g.
# test_a_second_push_integration_leaves_the_first_ones_objects_alone's ``sync run --full``),
# and sign-ins, which wait for a person (tests/health/test_who.py signs in as one).
RUNNABLE = [
    c
    for c in CATALOGUE_COMMANDS
    if c.split()[1] not in ("serve", "worker", "emulator")
    and c.split()[1:3] != ["sync", "run"]
    and "--sign-in" not in c.split()
]


@pytest.mark.parametrize("command", RUNNABLE)
def test_a_catalogue_command_runs_as_printed(command: str, hub: dict[str, Any]) -> None:
    kind = _kind_of(shlex.split(command))
    # The advice names the integration the error was about.
    command = command.replace(shlex.quote(NAMES["entra"]), shlex.quote(NAMES[kind]))
    args = _args(command, hub["org"], kind, hub["folder"])
    result = idsync(hub["database"], *args)
    assert result.returncode == 0, f"idsync {shlex.join(args)}:\n{result.stderr}"


# --- everything else the product prints ---------------------------------------------------------


def _strings(path: Path) -> Iterator[str]:
    """Every string literal of a module but its docstrings (bare string statements are for
    its readers, never printed); an f-string with ``{}`` for what it formats in."""
    tree = ast.parse(path.read_text())
    skipped = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    skipped |= {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr):
            yield "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )


SOURCES = [
    path
    for path in sorted((ROOT / "src" / "idsync").rglob("*.py"))
    if path.name != "catalogue.py" and "emulator" not in path.relative_to(ROOT).parts[2:3]
]
SOURCE_COMMANDS = sorted(
    {
        (str(path.relative_to(ROOT)), command)
        for path in SOURCES
        for text in _strings(path)
        for command in commands_in(text)
    }
)


def test_the_source_prints_commands() -> None:
    assert any("sync run" in command for _, command in SOURCE_COMMANDS)


@pytest.mark.parametrize(("where", "command"), SOURCE_COMMANDS)
def test_a_command_in_the_source_parses(where: str, command: str) -> None:
    parse(_args(command))


@pytest.mark.parametrize(
    "flag",
    sorted({flag for path in SOURCES for text in _strings(path) for flag in FLAG.findall(text)}),
)
def test_every_flag_the_source_names_exists(flag: str) -> None:
    assert flag in OPTIONS


# --- the docs -------------------------------------------------------------------------------


def _doc_commands() -> Iterator[tuple[str, str, bool]]:
    """``idsync …`` lines of the docs' code blocks (complete commands), and inline
    ``idsync …`` spans (which may name a command in passing); usage synopses
    (``[--flag]``, ``a|b``) are not commands."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        # The shell commands tests/docs runs; a drawing that shows commands is not one.
        lines = [s.flat for s in steps(path, path.name) if s.flat.startswith("idsync ")]
        spans = re.findall(r"`(idsync [^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for command, complete in [*((c, True) for c in lines), *((c, False) for c in spans)]:
            if not re.search(r"\[|\|", command.split("#")[0]):
                yield path.name, command.strip(), complete


@pytest.mark.parametrize(("doc", "command", "complete"), sorted(set(_doc_commands())))
def test_a_command_in_the_docs_parses(doc: str, command: str, complete: bool) -> None:
    parse(_args(re.sub(r"<[^>]+>", "X", command)), complete)
