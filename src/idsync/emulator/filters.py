"""The small ``$filter`` grammar the emulator understands.

Enough for what clients of these endpoints send: ``prop eq 'value'`` (also ``ne``, ``ge``,
``gt``, ``le``, ``lt``; paths like ``initiatedBy/user/id``), ``startswith(prop,'x')``,
``targetResources/any(t: t/id eq 'x')``, date-time literals for ``activityDateTime``,
combined with ``and`` (https://learn.microsoft.com/graph/filter-query-parameter).
Anything else is refused with a clear 400 rather than silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Item = dict[str, Any]


class FilterError(ValueError):
    pass


_CLAUSE = re.compile(r"^\s*([A-Za-z][\w/]*)\s+(eq|ne|ge|gt|le|lt)\s+(.+?)\s*$")
_STARTSWITH = re.compile(r"^\s*startswith\(\s*([A-Za-z][\w/]*)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$")
_ANY = re.compile(
    r"^\s*targetResources/any\(\s*(\w+)\s*:\s*\1/(\w+)\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$"
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a is not None and a >= b,
    "gt": lambda a, b: a is not None and a > b,
    "le": lambda a, b: a is not None and a <= b,
    "lt": lambda a, b: a is not None and a < b,
}


def _split_and(text: str) -> list[str]:
    """Split on `` and `` outside quotes (``or`` is not supported)."""
    parts: list[str] = []
    current: list[str] = []
    quoted, i = False, 0
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        if not quoted and text[i : i + 5].lower() == " and ":
            parts.append("".join(current))
            current, i = [], i + 5
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _path(event: Item, path: str) -> Any:
    value: Any = event
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _literal(text: str) -> Any:
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+)?Z?", text):
        return _normalise_time(text)
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    raise FilterError(f"Invalid filter clause: the literal {text!r} is not supported.")


def _normalise_time(text: str) -> str:
    """Make a date literal comparable, as text, with activityDateTime values."""
    if "T" not in text:
        text += "T00:00:00"
    text = text.rstrip("Z")
    main, _, fraction = text.partition(".")
    if len(main) == 16:
        main += ":00"
    return f"{main}.{(fraction + '0000000')[:7]}Z"


def _any_target(field_name: str, wanted: str) -> Callable[[Item], bool]:
    def check(item: Item) -> bool:
        return any(t.get(field_name) == wanted for t in item.get("targetResources", []))

    return check


def _starts_with(path: str, prefix: str) -> Callable[[Item], bool]:
    def check(item: Item) -> bool:
        return str(_path(item, path) or "").startswith(prefix)

    return check


def _compare(
    path: str, compare: Callable[[Any, Any], bool], literal: Any, as_time: bool
) -> Callable[[Item], bool]:
    def check(item: Item) -> bool:
        value = _path(item, path)
        if as_time:
            value = _normalise_time(str(value)) if value else None
        return compare(value, literal)

    return check


def parse_filter(
    text: str, time_fields: tuple[str, ...] = ("activityDateTime",)
) -> Callable[[Item], bool]:
    """A predicate for a ``$filter`` over JSON objects (audit events, users, groups...)."""
    checks: list[Callable[[Item], bool]] = []
    for clause in _split_and(text):
        if match := _ANY.match(clause):
            checks.append(_any_target(match.group(2), match.group(3).replace("''", "'")))
        elif match := _STARTSWITH.match(clause):
            checks.append(_starts_with(match.group(1), match.group(2).replace("''", "'")))
        elif match := _CLAUSE.match(clause):
            path, op = match.group(1), match.group(2)
            literal = _literal(match.group(3))
            checks.append(_compare(path, _OPS[op], literal, path in time_fields))
        else:
            raise FilterError(f"Invalid filter clause: {clause.strip()!r}.")

    def predicate(item: Item) -> bool:
        return all(check(item) for check in checks)

    return predicate
