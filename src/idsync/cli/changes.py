"""What a cycle changes (or would change), object by object, as lines that fit the terminal.

Ids are printed whole; names and attribute values are shortened to fit the width (the
whole values are in ``--json``). Secret values never reach here: the engine hides them
before they are logged or previewed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from idsync.cli.common import console, plain

INDENT = "    "
ARROW = " → "
MIN_VALUE = 12
"""Narrowest a value is shortened to; a path too long to leave this much goes on its own line."""
SHOWN = 200
"""Objects listed in the terminal; ``--json`` has them all."""


def shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"
    quoted = text.startswith('"') and text.endswith('"') and width > 3
    return text[: width - 2] + '…"' if quoted else text[: width - 1] + "…"


def _value(value: Any) -> str:
    return "(none)" if value is None else json.dumps(plain(value), ensure_ascii=False)


def change_lines(changes: Sequence[dict[str, Any]], width: int) -> list[str]:
    """``attribute: old → new`` per change, each line at most ``width`` wide."""
    lines: list[str] = []
    for change in changes:
        path, old, new = change["attribute"], _value(change["old"]), _value(change["new"])
        head = f"{INDENT}{path}: "
        if len(head) + 2 * MIN_VALUE + len(ARROW) > width:
            lines.append(shorten(f"{INDENT}{path}:", width))
            head = INDENT + "  "
        room_old, room_new = _split(width - len(head) - len(ARROW), len(old), len(new))
        lines.append(f"{head}{shorten(old, room_old)}{ARROW}{shorten(new, room_new)}")
    return lines


def _split(room: int, old: int, new: int) -> tuple[int, int]:
    """Room for the old and the new value: a short one lends what it leaves to the other."""
    half = max(room // 2, 1)
    if old + new <= room:
        return old, new
    if old <= half:
        return old, room - old
    if new <= half:
        return room - new, new
    return half, max(room - half, 1)


def heading(action: str, object_type: str, source_id: str, name: str | None, width: int) -> str:
    """``action type id  (name)``: the id whole, the name only as far as it fits."""
    line = f"{action} {object_type} {source_id}"
    room = width - len(line) - 4
    if name and name != source_id and room >= 6:
        line += f"  ({shorten(name, room)})"
    return line


def print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        # markup off: mapping paths hold brackets ([type eq "work"]) that are not styles.
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def print_preview(entries: Sequence[dict[str, Any]]) -> None:
    """Every object a cycle would change, with why, and each changed attribute."""
    width = console.width
    print_lines(["", "Preview: what the run would change"])
    for entry in entries[:SHOWN]:
        lines = [
            heading(
                entry["action"], entry["objectType"], entry["sourceId"], entry["display"], width
            )
        ]
        reason = f"{entry['code']}: {entry['reason']}" if entry.get("code") else entry["reason"]
        if reason:
            lines.append(shorten(f"{INDENT}{reason}", width))
        print_lines(lines + change_lines(entry.get("changes") or [], width))
    if len(entries) > SHOWN:
        print_lines([f"… and {len(entries) - SHOWN:,} more (use --json for all)."])
