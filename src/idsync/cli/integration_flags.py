"""The options of ``integration add KIND`` and ``integration update``, generated from the
connectors' descriptions (:mod:`idsync.connectors.description`) and the job options.

Typer builds a command from its function's signature. These commands' functions take
``**values`` and carry a generated ``__signature__`` (an :class:`inspect.Signature` of
``Annotated[…, typer.Option(…)]`` parameters), so Typer and click under it parse,
check and document the options exactly as for a hand-written command, and a setting
declared once in a connector's settings dataclass is a flag of both commands.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from idsync.connectors.description import Connector, ScopingShortcut, Setting
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError

JOB_PANEL = "Job"


@dataclass(frozen=True)
class Flag:
    """One generated option: the keyword it fills and, per kind, the setting it sets."""

    parameter: str
    settings: Mapping[str, Setting]
    """By connector kind (``integration update`` has one flag for every kind's ``--url``)."""


def parameter_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def setting_parameter(
    item: Setting, *, panel: str, required: bool, help_text: str | None = None, default: str = ""
) -> inspect.Parameter:
    """A typer option for a setting. Values arrive as text (numbers too): the setting
    parses them, so a wrong one is refused with the catalogue's error, as a stored one
    would be. ``default``: the default to show, as the user would type it."""
    text = with_default(help_text if help_text is not None else item.help, default)
    if item.kind == "boolean":
        assert item.off_flag is not None
        declared = typer.Option(
            f"{item.flag}/{item.off_flag}", help=text, rich_help_panel=panel, show_default=False
        )
        return _parameter(item.flag, bool | None, declared, None)
    declared = typer.Option(
        item.flag, help=text, metavar=item.metavar, rich_help_panel=panel, show_default=False
    )
    kind: Any = list[str] if item.repeatable else str
    if required:
        return _parameter(item.flag, kind, declared, inspect.Parameter.empty)
    return _parameter(item.flag, kind | None, declared, None)


def with_default(text: str, default: str) -> str:
    # The option's own default stays None (so "not given" is known); the help shows the
    # real one as Typer shows defaults (escaped: help text is Rich markup).
    return f"{text} {escape(f'[default: {default}]')}" if default else text


def shown_default(item: Setting, value: Any) -> str:
    """A default as the user would type it ("" when there is nothing to show)."""
    if value in (None, "", [], {}):
        return ""
    if item.kind == "boolean":
        return str(item.flag if value else item.off_flag)
    return str(item.shown(value))


def shortcut_parameter(shortcut: ScopingShortcut) -> inspect.Parameter:
    if shortcut.repeatable:
        declared = typer.Option(
            shortcut.flag, help=shortcut.help, metavar="ID", rich_help_panel=JOB_PANEL
        )
        return _parameter(shortcut.flag, list[str] | None, declared, None)
    declared = typer.Option(shortcut.flag, help=shortcut.help, rich_help_panel=JOB_PANEL)
    return _parameter(shortcut.flag, bool, declared, False)


def plain_parameter(
    name: str, kind: Any, declared: Any, default: Any = inspect.Parameter.empty
) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, declared], default=default
    )


def _parameter(flag: str, kind: Any, declared: Any, default: Any) -> inspect.Parameter:
    return plain_parameter(parameter_name(flag), kind, declared, default)


def command(
    name: str,
    parameters: Sequence[inspect.Parameter],
    run: Callable[[dict[str, Any]], None],
    doc: str,
) -> Callable[..., None]:
    """A function Typer can register, with ``parameters`` as its signature."""
    names = [p.name for p in parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TypeError(f"command {name}: options {duplicates} are declared twice")

    def callback(**values: Any) -> None:
        run(values)

    callback.__name__ = name.replace("-", "_")
    callback.__doc__ = doc
    ordered = sorted(parameters, key=lambda p: p.default is not inspect.Parameter.empty)
    callback.__signature__ = inspect.Signature(ordered)  # type: ignore[attr-defined]
    return callback


# --- from typed values to stored ones ------------------------------------------------------------


def given(
    flags: Iterable[Flag], kind: str, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings and the credentials given on the command line, in the stored form and
    by setting name; secrets are read from their files (``-``: standard input)."""
    settings: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    from_stdin = [f for f in flags if values.get(f.parameter) == "-"]
    if len(from_stdin) > 1:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason="more than one option reads standard input (-)",
            hint="Give all but one of them as files.",
        )
    for flag in flags:
        value = values.get(flag.parameter)
        item = flag.settings.get(kind)
        if value is None or value == [] or item is None:
            continue
        if item.file:
            value = read_file(item.flag, str(value))
        (secrets if item.secret else settings)[item.name] = item.parse(value)
    return settings, secrets


def not_for(flags: Iterable[Flag], kind: str, values: Mapping[str, Any]) -> list[str]:
    """Flags given that the kind has no setting for."""
    return [
        flag.settings[next(iter(flag.settings))].flag
        for flag in flags
        if values.get(flag.parameter) not in (None, []) and kind not in flag.settings
    ]


def options_given(flags: Iterable[Flag], values: Mapping[str, Any]) -> dict[str, Any]:
    """Job options given, by :class:`~idsync.manage.integrations.IntegrationOptions` field."""
    return {
        item.name: item.parse(values[flag.parameter])
        for flag in flags
        for item in flag.settings.values()
        if values.get(flag.parameter) not in (None, [])
    }


def scoping_rules(
    shortcuts: Iterable[ScopingShortcut], values: Mapping[str, Any]
) -> dict[str, list[Any]]:
    rules: dict[str, list[Any]] = {}
    for shortcut in shortcuts:
        for key, added in shortcut.rules(values.get(parameter_name(shortcut.flag))).items():
            rules.setdefault(key, []).extend(added)
    return rules


def read_file(flag: str, path: str) -> str:
    """A file's text, or standard input's for ``-`` (one trailing newline dropped)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"the {flag} file {path!r} cannot be read ({exc.strerror})",
            hint="Give a readable file holding only that value, or - to read standard input.",
        ) from None
    return text.removesuffix("\n")


def flags_of(connector: Connector) -> list[Flag]:
    return [Flag(parameter_name(s.flag), {connector.kind: s}) for s in connector.settings]
