"""One description per connector: what it is, the settings it takes, how to open it.

The registry, the CLI's ``integration add KIND`` / ``integration update`` and the
console's forms are all derived from a :class:`Connector`, so a setting exists
everywhere or nowhere. A setting is a field of the connector's settings dataclass
declared with :func:`setting`: the field's type and default are the setting's, the
declaration adds help, the CLI flag, whether it is a secret and an example. The
dataclass's own checks stay the validation; :meth:`Setting.parse` only turns what a
user typed into the stored (JSON) form.
"""

from __future__ import annotations

import collections.abc
import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from idsync.contract.mappings import DefaultMappings
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError

Kind = Literal[
    "text", "integer", "number", "boolean", "choice", "path", "list", "pairs", "json",
    "json_file", "minutes",
]  # fmt: skip
"""How a setting is typed in and stored:

- ``text``, ``choice``: a string (a choice is one of ``choices``);
- ``integer``, ``number``: a whole / decimal number; ``minutes``: whole minutes, stored as seconds;
- ``boolean``: on or off (the CLI's ``--flag`` / ``--no-flag``);
- ``path``: a file path, stored absolute (the sync worker may run in another folder);
- ``list``: repeatable values, stored as a list; ``pairs``: repeatable ``name=value``,
  stored as an object;
- ``json``: a JSON object typed in; ``json_file``: a file holding one.
"""
Direction = Literal["source", "push"]
DIRECTIONS: tuple[Direction, ...] = ("source", "push")

_METADATA = "idsync.setting"


@dataclass(frozen=True, slots=True)
class _Declared:
    """What :func:`setting` attaches to a dataclass field."""

    help: str
    flag: str | None
    off_flag: str | None
    secret: bool
    file: bool | None
    kind: Kind | None
    metavar: str | None
    example: str | None
    excludes: tuple[str, ...]
    separator: str | None
    rereads: bool


def setting(
    default: Any = MISSING,
    *,
    help: str,
    flag: str | None = None,
    off_flag: str | None = None,
    secret: bool = False,
    file: bool | None = None,
    kind: Kind | None = None,
    metavar: str | None = None,
    example: str | None = None,
    excludes: Sequence[str] = (),
    separator: str | None = None,
    rereads: bool = True,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field that is a user-facing setting.

    ``flag``: the CLI option (default ``--name-with-dashes``); ``off_flag``: a boolean's
    "off" form (default ``--no-…``). ``secret``: stored encrypted, never shown; such a
    setting is read from a file on the CLI unless ``file=False``. ``kind``: when the
    field's type does not say it. ``example``: a valid value, for help, forms and tests.
    ``excludes``: settings this one replaces when it is given (alternative credentials).
    ``separator``: a list setting also splits each value on it (``a,b``). ``rereads``:
    whether changing it makes the next cycle read everything again; False for settings
    that change how the source is read but never what (page sizes, timeouts, TLS trust),
    so that tuning a large directory's integration costs no full read.
    """
    declared = _Declared(
        help,
        flag,
        off_flag,
        secret,
        file,
        kind,
        metavar,
        example,
        tuple(excludes),
        separator,
        rereads,
    )
    metadata = {_METADATA: declared}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of a connector (or of every integration's job), as forms show it."""

    name: str
    """The key of the stored settings (or secrets); ``a.b`` for part ``b`` of object ``a``."""
    kind: Kind
    help: str
    default: Any
    """The stored default (None: none, or required)."""
    required: bool
    secret: bool
    """Stored encrypted with the integration's credentials; never shown, never logged."""
    file: bool
    """The CLI reads the value from a file (``-``: standard input), never from its arguments."""
    choices: tuple[str, ...]
    flag: str
    off_flag: str | None
    metavar: str
    example: str | None
    excludes: tuple[str, ...]
    separator: str | None
    rereads: bool
    """A change makes the next cycle read everything again (see :func:`setting`)."""

    @property
    def repeatable(self) -> bool:
        return self.kind in ("list", "pairs")

    @property
    def key(self) -> str:
        """The top-level key it is stored under."""
        return self.name.split(".")[0]

    def parse(self, value: Any) -> Any:
        """What a user typed (a string; a bool for booleans; a list for repeatable
        settings) as it is stored. Raises INVALID_INTEGRATION for text of the wrong shape;
        whether the value is acceptable is the connector's settings' to say."""
        if self.kind == "boolean":
            return bool(value)
        if self.repeatable and isinstance(value, str):
            value = [value]  # one value typed into a form
        if self.kind == "list":
            return [part for item in value for part in self._split(str(item))]
        if self.kind == "pairs":
            return dict(self._pair(str(item)) for item in value)
        text = str(value)
        if self.kind in ("integer", "minutes"):
            number = self._number(text, int, "a whole number")
            return number * 60 if self.kind == "minutes" else number
        if self.kind == "number":
            return self._number(text, float, "a number")
        if self.kind == "path":
            return str(Path(text).expanduser().resolve())
        if self.kind == "json":
            return self._object(text, text)
        if self.kind == "json_file":
            return self._object(_read(self, text), f"file {text}")
        return text

    def shown(self, stored: Any) -> Any:
        """A stored value in the unit users type it in (minutes, not seconds)."""
        if self.kind == "minutes" and isinstance(stored, int):
            return stored // 60
        return stored

    def _split(self, item: str) -> list[str]:
        if self.separator is None:
            return [item]
        return [part.strip() for part in item.split(self.separator) if part.strip()]

    def _pair(self, item: str) -> tuple[str, str]:
        name, sep, value = item.partition("=")
        _require(
            bool(sep and name.strip() and value.strip()),
            f"{self.flag} {item!r} is not NAME=VALUE",
            self._e_g(),
        )
        return name.strip(), value.strip()

    def _number(self, text: str, kind: type[int] | type[float], called: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise _invalid(f"{self.flag} {text!r} is not {called}", self._e_g()) from None

    def _object(self, text: str, where: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise _invalid(f"{self.flag}: {where} is not JSON ({exc})", self._e_g()) from None
        _require(isinstance(value, dict), f"{self.flag}: {where} is not a JSON object", self._e_g())
        return dict(value)

    def _e_g(self) -> str:
        return f"e.g. {self.flag} {self.example}" if self.example else f"See {self.flag} in --help."


def nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """Stored form of values by setting name: ``a.b`` goes to ``{"a": {"b": …}}``."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        put(result, name, value)
    return result


def put(values: dict[str, Any], name: str, value: Any) -> None:
    """Set the setting ``name`` (``a.b``: ``values["a"]["b"]``) in stored values."""
    *parents, last = name.split(".")
    for parent in parents:
        child = values.get(parent)
        values[parent] = child = dict(child) if isinstance(child, Mapping) else {}
        values = child
    values[last] = value


def _read(setting_: Setting, path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"{setting_.flag} file {path!r} cannot be read ({exc.strerror})",
            hint="Give a readable JSON file (see docs/sync.md).",
        ) from None


def settings_of(cls: type[Any]) -> tuple[Setting, ...]:
    """The settings a dataclass declares with :func:`setting`, in field order; a field
    whose type is itself such a dataclass gives its parts (``certificate.thumbprint``)."""
    return tuple(_settings(cls, prefix="", inherited=None))


def _settings(cls: type[Any], prefix: str, inherited: _Declared | None) -> Iterator[Setting]:
    hints = typing.get_type_hints(cls)
    for item in fields(cls):
        declared = item.metadata.get(_METADATA)
        if not isinstance(declared, _Declared):
            continue
        hint = _optional(hints[item.name])
        if declared.kind is None and is_dataclass(hint) and isinstance(hint, type):
            yield from _settings(hint, f"{prefix}{item.name}.", declared)
            continue
        yield _setting(prefix + item.name, item, hints[item.name], declared, inherited)


def _setting(
    name: str, item: Any, hint: Any, declared: _Declared, parent: _Declared | None
) -> Setting:
    kind, choices = (declared.kind, ()) if declared.kind else _kind_of(name, hint)
    default = _default(item)
    secret = declared.secret or bool(parent and parent.secret)
    from_file = secret if declared.file is None else declared.file
    flag = declared.flag or "--" + name.rsplit(".", 1)[-1].replace("_", "-")
    return Setting(
        name=name,
        kind=kind,
        help=declared.help,
        default=None if default is MISSING else default,
        required=default is MISSING and parent is None,
        secret=secret,
        file=from_file,
        choices=choices,
        flag=flag,
        off_flag=(declared.off_flag or f"--no-{flag[2:]}") if kind == "boolean" else None,
        metavar=declared.metavar or _metavar(kind, choices, from_file),
        example=declared.example,
        excludes=declared.excludes or (parent.excludes if parent else ()),
        separator=declared.separator,
        rereads=declared.rereads and (parent is None or parent.rereads),
    )


def _default(item: Any) -> Any:
    if item.default is not MISSING:
        return _plain(item.default)
    if item.default_factory is not MISSING:
        return _plain(item.default_factory())
    return MISSING


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value if value is None or isinstance(value, str | int | float | bool) else None


def _optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _kind_of(name: str, hint: Any) -> tuple[Kind, tuple[str, ...]]:
    hint = _optional(hint)
    origin = typing.get_origin(hint)
    simple: dict[Any, Kind] = {bool: "boolean", int: "integer", float: "number", str: "text"}
    if hint in simple:
        return simple[hint], ()
    if origin is Literal:
        return "choice", tuple(str(arg) for arg in typing.get_args(hint))
    if origin in (tuple, list):
        return "list", ()
    if origin in (dict, collections.abc.Mapping):
        return "pairs", ()
    raise TypeError(f"setting {name}: say its kind, {hint!r} does not")


def _metavar(kind: Kind, choices: tuple[str, ...], from_file: bool) -> str:
    if from_file:
        return "FILE"
    if kind == "choice":
        return "|".join(choices)
    return {
        "integer": "N",
        "minutes": "MINUTES",
        "number": "NUMBER",
        "path": "PATH",
        "pairs": "NAME=VALUE",
        "json": "JSON",
        "json_file": "FILE",
    }.get(kind, "TEXT")


def _invalid(reason: str, hint: str) -> IdsyncError:
    return IdsyncError(INVALID_INTEGRATION, reason=reason, hint=hint)


def _require(condition: bool, reason: str, hint: str) -> None:
    if not condition:
        raise _invalid(reason, hint)


# --- connectors --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopingShortcut:
    """A flag that adds scoping rules (e.g. Entra's ``--enabled-only``), on top of ``--scoping``."""

    flag: str
    help: str
    repeatable: bool
    rules: Callable[[Any], dict[str, list[Any]]]
    """The flag's value (a bool, or the list of values) → rules to add, by object type."""


@dataclass(frozen=True)
class Connector:
    """Everything idsync knows about one kind of integration, in one place."""

    kind: str
    title: str
    summary: str
    """What ``integration add KIND`` does, in one sentence (its help)."""
    directions: tuple[Direction, ...]
    """The first is the default."""
    settings_class: type[Any]
    build: Callable[[str, Mapping[str, Any], Mapping[str, Any]], Any]
    """(integration name, stored settings, secrets) → the validated settings; raises
    INVALID_INTEGRATION with what is wrong."""
    default_name: str
    default_mappings: Mapping[Direction, DefaultMappings]
    """Per direction, the attribute mappings an integration starts from (its own
    entries override them by target)."""
    open_source: Callable[[Any], Any] | None = None
    """Validated settings → a Source (for direction ``source``)."""
    open_target: Callable[[Any, Any, str], Any] | None = None
    """(validated settings, database, integration id) → a Target (for direction ``push``)."""
    job_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Job options whose default differs for this kind (e.g. a file is re-read only when asked)."""
    scoping_shortcuts: tuple[ScopingShortcut, ...] = ()

    @cached_property
    def settings(self) -> tuple[Setting, ...]:
        return settings_of(self.settings_class)

    @property
    def needs_secrets(self) -> bool:
        """Whether an integration of this kind cannot run without credentials."""
        return any(s.secret for s in self.settings)

    def setting(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)
