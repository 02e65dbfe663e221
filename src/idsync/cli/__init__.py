"""The ``idsync`` command.

Each command's module is imported when that command runs, not every module for every
command: they pull in what only they need (the emulator, the demo, the connectors'
settings, the console's operators), and every ``idsync`` a script or a worker runs
would pay for all of them. ``idsync --help`` lists (so imports) them all.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from functools import cache
from typing import Any

import typer
from typer._click import Command  # Typer carries its own click
from typer.core import TyperGroup

from idsync.cli.common import fail  # every command's module imports it too
from idsync.errors.catalogue import IdsyncError
from idsync.logs import configure

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serve", "serve"),
    "openapi": ("serve", "openapi"),
    "emulator": ("emulator", "emulator"),
    "worker": ("worker", "worker"),
    "doctor": ("doctor", "doctor"),
    "debug-info": ("debug", "debug_info"),
    "validate": ("validate", "validate"),
    "repair": ("repair", "repair"),
    "org": ("orgs", "app"),
    "admin": ("admins", "app"),
    "token": ("tokens", "app"),
    "schema": ("schemas", "app"),
    "audit": ("audit", "app"),
    "db": ("db", "app"),
    "integration": ("integrations", "app"),
    "sync": ("sync", "app"),
    "demo": ("demo", "app"),
}
"""Command name → (module of ``idsync.cli``, its Typer app of commands or command function),
in the order ``idsync --help`` lists them."""


class LazyCommands(TyperGroup):
    """The top-level group: its commands, each loaded when first looked up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _OnDemand()


class _OnDemand(MutableMapping[str, Command]):
    """``COMMANDS`` as click's name → command mapping (what click and Typer look commands
    up, list and suggest from), each command loaded on first access."""

    def __getitem__(self, name: str) -> Command:
        if name not in COMMANDS:
            raise KeyError(name)
        return load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)

    def __setitem__(self, name: str, command: Command) -> None:
        raise TypeError("idsync's commands are listed in COMMANDS")

    def __delitem__(self, name: str) -> None:
        raise TypeError("idsync's commands are listed in COMMANDS")


@cache
def load(name: str) -> Command:
    """The click command ``name`` stands for, built by Typer as ``add_typer`` would."""
    module, attribute = COMMANDS[name]
    found = getattr(importlib.import_module(f"idsync.cli.{module}"), attribute)
    if isinstance(found, typer.Typer):
        command: Command = typer.main.get_group(found)  # without completion options
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    name="idsync",
    cls=LazyCommands,
    help="Identity sync hub: a SCIM 2.0 service provider that explains every failure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    # Typer makes a group only of an app with a callback or commands of its own, and this
    # one's commands are the group's (``LazyCommands``): a callback that does nothing.
    pass


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
