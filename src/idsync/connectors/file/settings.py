"""What the file connector needs to know: which files, in which format, with which columns."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, Literal

from idsync.connectors.description import setting, settings_of
from idsync.contract.records import ObjectType
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError

Format = Literal["csv", "json", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "json", "jsonl")

USER_COLUMNS: tuple[str, ...] = (
    "userName",
    "enabled",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "title",
    "preferredLanguage",
    "mobile",
    "telephoneNumber",
    "city",
    "country",
    "department",
    "employeeId",
    "manager",
)
"""The canonical user attributes (``contract.mappings.DIRECTORY`` maps them to SCIM)."""
GROUP_COLUMNS: tuple[str, ...] = ("displayName", "members")
"""The canonical group columns; ``members`` becomes the member list, not an attribute."""
CANONICAL: dict[ObjectType, tuple[str, ...]] = {"user": USER_COLUMNS, "group": GROUP_COLUMNS}
REQUIRED: dict[ObjectType, str] = {"user": "userName", "group": "displayName"}
"""The attribute a row cannot be applied without (the hub's key for the object type)."""

_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
MAX_PAGE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class FileSettings:
    """One file integration: a users file, optionally a groups file, and how to read them."""

    users: str = setting(
        kind="path",
        help="CSV, JSON or JSON Lines file of users (a JSON file may hold the groups too).",
        example="/srv/hr/users.csv",
    )
    """Absolute path of the users file (JSON and JSON Lines files may hold groups too)."""
    groups: str | None = setting(
        None, kind="path", help="File of groups, if separate.", example="/srv/hr/groups.csv"
    )
    integration: str = "file"
    """The integration's name, as administrators know it (used in every error message)."""
    format: Literal["auto", "csv", "json", "jsonl"] = setting(
        "auto", help="auto (each file by its extension), csv, json or jsonl.", example="csv"
    )
    """``auto``: each file by its extension (.csv, .json, .jsonl/.ndjson)."""
    encoding: str = setting(
        "utf-8",
        help="The files' text encoding (a byte order mark is always tolerated).",
        example="cp1252",
    )
    delimiter: str = setting(",", help="CSV field delimiter, one character.", example=";")
    members_separator: str = setting(
        ";",
        help="What separates the member ids in a CSV groups file's members cell.",
        example="|",
    )
    id_column: str = setting(
        "id", help="The column (or JSON key) holding each row's id.", example="Personalnummer"
    )
    columns: Mapping[str, str] = setting(
        default_factory=dict,
        help="canonical=header, when the file names a column otherwise, e.g. userName=login; "
        "repeatable (docs/file-import.md).",
        flag="--column",
        example="userName=login",
    )
    """Canonical name → the header that holds it, for files whose headers differ."""
    page_size: int = setting(1000, help="Rows per page (1-100000).", example="500", rereads=False)

    def __post_init__(self) -> None:
        _check_path("users", self.users)
        if self.groups is not None:
            _check_path("groups", self.groups)
        _require(
            self.format in ("auto", *FORMATS),
            f"format {self.format!r} is not one of auto, csv, json, jsonl",
            "Use --format csv, json or jsonl (or leave it out to go by the file's extension).",
        )
        _check_encoding(self.encoding)
        _check_separators(self.delimiter, self.members_separator)
        _require(
            bool(self.id_column.strip()),
            "id_column is empty",
            "Name the column holding each row's id (default: id).",
        )
        # Frozen and read-only: settings are shared by every read of the integration.
        object.__setattr__(self, "columns", MappingProxyType(_checked_columns(self.columns)))
        _require(
            isinstance(self.page_size, int) and 1 <= self.page_size <= MAX_PAGE_SIZE,
            f"page_size must be 1…{MAX_PAGE_SIZE}",
            "Use e.g. 1000.",
        )
        for path in (self.users, self.groups):
            if path is not None:
                self.format_of(path)  # an unknown extension fails now, not at the first cycle

    def header(self, canonical: str) -> str:
        """The header (CSV) or key (JSON) that holds a canonical column in the files."""
        return self.columns.get(canonical, canonical)

    def format_of(self, path: str) -> Format:
        if self.format != "auto":
            return self.format
        suffix = PurePath(path).suffix.lower()
        found = _EXTENSIONS.get(suffix)
        _require(
            found is not None,
            f"the format of {path} cannot be told from its extension {suffix or '(none)'!r}",
            "Give --format csv, json or jsonl, or name the file .csv, .json or .jsonl.",
        )
        assert found is not None  # _require raised otherwise
        return found

    @property
    def system(self) -> str:
        return f"file {PurePath(self.users).name}"


def file_settings(name: str, settings: Mapping[str, Any]) -> FileSettings:
    """Validated file settings from an integration's stored settings (raises INVALID_INTEGRATION)."""
    known = {s.key for s in settings_of(FileSettings)}
    unknown = sorted(set(settings) - known)
    _require(
        not unknown,
        f"unknown setting(s) {', '.join(unknown)}",
        "Known settings: " + ", ".join(sorted(known)) + ".",
    )
    users = settings.get("users")
    _require(isinstance(users, str), "the users file is not set", "Give --users PATH.")
    options = {key: value for key, value in settings.items() if value is not None}
    _check_types(options)
    return FileSettings(integration=name, **options)


def _check_types(options: Mapping[str, Any]) -> None:
    # Stored settings are JSON: catch a wrong type here rather than as a crash later.
    for key, value in options.items():
        wanted, called = (
            (int, "a whole number")
            if key == "page_size"
            else (dict, "a mapping of canonical names to headers")
            if key == "columns"
            else (str, "text")
        )
        _require(
            isinstance(value, wanted) and not isinstance(value, bool),
            f"{key} must be {called}, not {value!r}",
            f"Correct the integration's {key} setting.",
        )


def _check_path(what: str, path: Any) -> None:
    _require(
        isinstance(path, str) and bool(path.strip()),
        f"the {what} file path is empty",
        f"Give --{what} PATH.",
    )
    # The sync worker may run in another directory than the command that stored the path.
    _require(
        PurePath(path).is_absolute(),
        f"the {what} file path {path!r} is not absolute",
        "Give the full path, e.g. /srv/hr/users.csv (the sync worker may run elsewhere).",
    )


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        _require(False, f"unknown encoding {encoding!r}", "Use e.g. utf-8, utf-16, cp1252.")


def _check_separators(delimiter: str, separator: str) -> None:
    _require(
        len(delimiter) == 1 and delimiter not in '"\r\n',
        f"delimiter {delimiter!r} must be one character other than a quote or newline",
        'Use e.g. "," or ";" or "\\t".',
    )
    _require(
        bool(separator) and not set(separator) & {"\r", "\n"},
        f"members_separator {separator!r} must be non-empty text without newlines",
        'Use e.g. ";" or "|".',
    )
    # The separator may equal the delimiter: a quoted members cell still parses, and an
    # unquoted one has too many fields, so its row is refused rather than misread.


def _checked_columns(columns: Mapping[str, Any]) -> dict[str, str]:
    known = dict.fromkeys((*USER_COLUMNS, *GROUP_COLUMNS))
    checked: dict[str, str] = {}
    for canonical, header in columns.items():
        _require(
            canonical in known,
            f"{canonical!r} is not a column idsync reads",
            "Map one of: " + ", ".join(known) + " (e.g. --column mail=Email).",
        )
        _require(
            isinstance(header, str) and bool(header.strip()),
            f"the header mapped to {canonical!r} is empty",
            "Give the column's header as it appears in the file, e.g. --column mail=Email.",
        )
        checked[canonical] = header.strip()
    return checked


def _require(condition: bool, reason: str, hint: str) -> None:
    if not condition:
        raise IdsyncError(INVALID_INTEGRATION, reason=reason, hint=hint)
