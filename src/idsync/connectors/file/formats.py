"""From a file's bytes to raw rows: CSV, JSON and JSON Lines, each row with where it came from.

Nothing here judges a row's values (that is :mod:`idsync.connectors.file.validate`);
this only splits the file into rows, numbers them by the physical line they start
on, and notes rows whose shape is broken. A file whose structure cannot be trusted
past some point (invalid JSON, a quote that never closes) raises instead: reading
only its first half would look like everyone after it left.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from idsync.connectors.file import failures
from idsync.connectors.file.settings import REQUIRED, FileSettings, Format
from idsync.contract.records import ObjectType

_WHAT: dict[ObjectType, str] = {"user": "users", "group": "groups"}
_KEYED: dict[str, ObjectType] = {"users": "user", "groups": "group"}
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_ESCAPED = re.compile("[\udc80-\udcff]")
"""What ``surrogateescape`` turns undecodable bytes into (valid text never holds them)."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One configured file: its path, its bytes, and the object type its rows are by default."""

    path: str
    data: bytes
    object_type: ObjectType
    format: Format

    @property
    def what(self) -> str:
        return _WHAT[self.object_type]

    @property
    def name(self) -> str:
        return PurePath(self.path).name


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as the file holds it: header (or key) → value, before any validation."""

    file: str
    """The file's name, for messages."""
    index: int
    """Position among all rows read, in file order: tells duplicates apart on one line."""
    line: int
    """The physical line the row starts on (1-based, header included)."""
    object_type: ObjectType
    values: Mapping[str, Any] = field(default_factory=dict)
    pointer: str | None = None
    """For .json files: the RFC 6901 pointer of the item, e.g. ``/users/12``."""
    problem: str | None = None
    """Why the row's shape is broken (wrong field count, not a JSON object), if it is."""
    undecodable: bool = False
    """The row holds bytes the file's encoding cannot decode."""

    @property
    def reference(self) -> str:
        if self.pointer is None:
            return f"line {self.line}"
        return f"line {self.line} ({self.pointer})"


class _Rows:
    """Collects rows, numbering them in the order read across all files."""

    def __init__(self, source: SourceFile, first_index: int, escaped: bool) -> None:
        self.rows: list[RawRow] = []
        self._name, self._next, self._escaped = source.name, first_index, escaped

    def add(self, line: int, object_type: ObjectType, **kw: Any) -> None:
        # Scanning values for undecodable bytes only pays when the file has some.
        bad = self._escaped and undecodable(kw.get("values"))
        self.rows.append(RawRow(self._name, self._next, line, object_type, **kw, undecodable=bad))
        self._next += 1


def parse(source: SourceFile, settings: FileSettings, first_index: int = 0) -> list[RawRow]:
    """The rows of one file; raises Unavailable when the file as a whole is unusable."""
    text = decode(source.data, settings.encoding)
    rows = _Rows(source, first_index, escaped=_ESCAPED.search(text) is not None)
    if source.format == "csv":
        _csv(text, source, settings, rows)
    elif source.format == "jsonl":
        _jsonl(text, source, rows)
    else:
        _json(text, source, settings, rows)
    return rows.rows


def decode(data: bytes, encoding: str) -> str:
    """Text with undecodable bytes kept as lone surrogates, so one bad row stays one bad row."""
    utf8 = codecs.lookup(encoding).name == "utf-8"
    text = data.decode("utf-8-sig" if utf8 else encoding, errors="surrogateescape")
    return text.removeprefix("\ufeff")  # other encodings' BOMs decode to U+FEFF


def undecodable(value: Any) -> bool:
    """Whether a value holds bytes the encoding could not decode (see :func:`decode`)."""
    if isinstance(value, str):
        return _ESCAPED.search(value) is not None
    if isinstance(value, Mapping):
        return any(undecodable(k) or undecodable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(undecodable(item) for item in value)
    return False


# --- CSV ----------------------------------------------------------------------------------


def _csv(text: str, source: SourceFile, settings: FileSettings, rows: _Rows) -> None:
    # The csv module refuses a field over 128 KiB by default: the members cell of a group
    # of some 15,000 users. The file is in memory already, so any field may be as long.
    if len(text) > csv.field_size_limit():
        csv.field_size_limit(len(text))
    # newline="": the csv module sees \r\n inside quoted fields as data, as RFC 4180 says.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=settings.delimiter, strict=True)
    header = _csv_header(reader, source, settings)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            _csv_error(exc, start, reader.line_num, source, settings, rows)
            continue
        if all(not cell.strip() for cell in cells):
            continue  # blank lines, and the ",,,," lines spreadsheets leave at the end
        values = dict(zip(header, cells, strict=False))
        problem = None
        if len(cells) != len(header):
            problem = f"the row has {len(cells)} fields where the header has {len(header)}"
        rows.add(start, source.object_type, values=values, problem=problem)


def _csv_error(
    exc: csv.Error, start: int, end: int, source: SourceFile, settings: FileSettings, rows: _Rows
) -> None:
    # An error after the parser ran over several lines means a quoted field swallowed
    # them: the rows in there cannot be told apart, so the whole file is refused.
    if end > start:
        raise failures.unreadable(
            settings,
            source.what,
            source.path,
            f"the quoted field that starts on line {start} does not close properly ({exc})",
        )
    rows.add(start, source.object_type, problem=f"the row is not valid CSV ({exc})")


def _csv_header(reader: Any, source: SourceFile, settings: FileSettings) -> list[str]:
    try:
        header = [cell.strip() for cell in next(reader, [])]
    except csv.Error as exc:
        raise failures.unreadable(
            settings, source.what, source.path, f"its header is not valid CSV ({exc})"
        ) from exc
    if undecodable(header):
        raise failures.unreadable(
            settings, source.what, source.path, f"its header is not valid {settings.encoding}"
        )
    _check_header(header, source, settings)
    return header


def _check_header(header: list[str], source: SourceFile, settings: FileSettings) -> None:
    twice = sorted({cell for cell in header if header.count(cell) > 1})
    if twice:
        raise failures.bad_header(
            settings,
            source.what,
            source.path,
            f"has the column(s) {', '.join(twice)} twice",
            header,
        )
    required = [settings.id_column, settings.header(REQUIRED[source.object_type])]
    if source.object_type == "group":
        required.append(settings.header("members"))
    missing = [column for column in required if column not in header]
    if missing:
        reason = f"lacks the required column(s) {', '.join(missing)}"
        raise failures.bad_header(settings, source.what, source.path, reason, header)


# --- JSON Lines ---------------------------------------------------------------------------


def _jsonl(text: str, source: SourceFile, rows: _Rows) -> None:
    # Only "\n" ends a line: JSON strings may hold U+2028 and friends unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"the line is not valid JSON ({exc.msg} at column {exc.colno})"
            rows.add(number, source.object_type, problem=problem)
            continue
        _item(item, source, number, None, None, rows)


def _item(
    item: Any,
    source: SourceFile,
    line: int,
    pointer: str | None,
    keyed: ObjectType | None,
    rows: _Rows,
) -> None:
    """One JSON object as a row; its ``type`` field (if any) says whether it is a user or a group."""
    default = keyed or source.object_type
    if not isinstance(item, dict):
        shape = f"the item is a JSON {_json_kind(item)}, not an object"
        rows.add(line, default, pointer=pointer, problem=shape)
        return
    values = dict(item)
    declared = values.pop("type", None)
    object_type, problem = _item_type(declared, default, keyed)
    rows.add(line, object_type, values=values, pointer=pointer, problem=problem)


def _item_type(
    declared: Any, default: ObjectType, keyed: ObjectType | None
) -> tuple[ObjectType, str | None]:
    if declared is None:
        return default, None
    if declared not in ("user", "group"):
        return default, f'its "type" is {declared!r}, neither "user" nor "group"'
    if keyed is not None and declared != keyed:
        return keyed, f'its "type" is {declared!r} but it is in the {_WHAT[keyed]} list'
    object_type: ObjectType = "user" if declared == "user" else "group"
    return object_type, None


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


# --- JSON ---------------------------------------------------------------------------------


def _json(text: str, source: SourceFile, settings: FileSettings, rows: _Rows) -> None:
    lines = _Lines(text)
    try:
        for pointer, position, keyed, item in _json_items(text):
            _item(item, source, lines.line(position), pointer, keyed, rows)
    except json.JSONDecodeError as exc:
        reason = f"it is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise failures.unreadable(settings, source.what, source.path, reason) from exc
    except _Shape as exc:
        raise failures.unreadable(settings, source.what, source.path, str(exc)) from exc


class _Shape(Exception):
    """Valid JSON, but not a list of objects nor an object with users/groups lists."""


class _Lines:
    """Line numbers of increasing positions in a text: one pass over it for the whole file."""

    def __init__(self, text: str) -> None:
        self.text, self.position, self.number = text, 0, 1

    def line(self, position: int) -> int:
        self.number += self.text.count("\n", self.position, position)
        self.position = position
        return self.number


_Item = tuple[str, int, ObjectType | None, Any]
_Items = Generator[_Item, None, int]


def _json_items(text: str) -> Generator[_Item, None, None]:
    """(pointer, position, the list's type if keyed, item) of every item, in file order.

    The standard decoder gives no positions, so the two outer levels are walked here
    and each item is decoded on its own: that is what gives each a line number.
    """
    position = _skip(text, 0)
    if position == len(text):
        raise _Shape("it is empty")
    if text.startswith("[", position):
        end = yield from _array(text, position, "", None)
    elif text.startswith("{", position):
        end = yield from _object(text, position)
    else:
        raise _Shape('it must hold a list of objects, or an object with "users" and "groups" lists')
    if _skip(text, end) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip(text, end))


def _object(text: str, position: int) -> _Items:
    seen: set[str] = set()
    position = _skip(text, position + 1)
    if text.startswith("}", position):
        raise _Shape('it is an empty object: give "users" and/or "groups" lists')
    while True:
        if not text.startswith('"', position):
            raise json.JSONDecodeError("Expecting property name in double quotes", text, position)
        key, position = _DECODER.raw_decode(text, position)
        position = _expect(text, position, ":")
        if key in _KEYED:
            if key in seen:
                raise _Shape(f'it has the key "{key}" twice')
            seen.add(key)
            if not text.startswith("[", position):
                raise _Shape(f'its "{key}" is not a list')
            position = yield from _array(text, position, f"/{key}", _KEYED[key])
        else:
            _, position = _DECODER.raw_decode(text, position)  # other keys: ignored
        position = _skip(text, position)
        if text.startswith("}", position):
            if not seen:
                raise _Shape('it has neither a "users" nor a "groups" list')
            return position + 1
        position = _expect(text, position, ",")


def _array(text: str, position: int, pointer: str, keyed: ObjectType | None) -> _Items:
    position = _skip(text, position + 1)
    if text.startswith("]", position):
        return position + 1
    index = 0
    while True:
        item, end = _DECODER.raw_decode(text, position)
        yield f"{pointer}/{index}", position, keyed, item
        position = _skip(text, end)
        if text.startswith("]", position):
            return position + 1
        position = _expect(text, position, ",")
        index += 1


def _expect(text: str, position: int, char: str) -> int:
    position = _skip(text, position)
    if not text.startswith(char, position):
        raise json.JSONDecodeError(f"Expecting {char!r} delimiter", text, position)
    return _skip(text, position + 1)


def _skip(text: str, position: int) -> int:
    match = _WHITESPACE.match(text, position)
    assert match is not None  # the pattern matches the empty string
    return match.end()
