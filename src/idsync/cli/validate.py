"""``idsync validate ID``: the checklist that proves an integration is healthy.

For a person, one line per check (✓ or ✗, its name, its evidence), at any width by the
rules of ``integration_view``: ids, codes and counts whole, wrapped between items onto
lines of their own; only prose (an error's message) is shortened, the whole of it being
in ``--json``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console

from idsync.cli.changes import shorten
from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db
from idsync.cli.integration_view import print_rows, text
from idsync.config import Settings
from idsync.manage.validation import CHECKS, Check, Validation, validate_integration

INDENT = "    "
NAME_WIDTH = max(len(name) for name in CHECKS)
MIN_PROSE = 20
"""Narrowest a message is shortened to before it moves to a line of its own."""
HIDDEN = frozenset({"roles_needed", "title", "action", "error", "retryable"})
"""Evidence left to ``--json``: what the line would only repeat (an error's title beside
its message, the permissions needed beside those missing)."""


def validate(
    integration: Annotated[str, typer.Argument(help="Integration id (or its unique name).")],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Check that an integration works, with evidence: credentials, the Entra service
    principal, the target, the job, auto sync, the last cycle, and whether the source and
    the hub hold the same objects. Exit code: 0 healthy, 1 not healthy."""
    result = validate_integration(open_db(database), Settings.from_env(), integration)
    if json:
        emit_json(result.to_json())
    else:
        checklist(console, result)
    raise typer.Exit(0 if result.healthy else 1)


def checklist(console: Console, result: Validation) -> None:
    record = result.integration
    rows = [("integration", record.id), ("kind", f"{record.kind} ({record.direction})")]
    print_rows(console, f"Validation of {record.name}", rows)
    for check in result.checks:
        mark = "✓" if check.passed else "✗"
        head = f"{mark} {check.name:<{NAME_WIDTH}}"
        for line in layout(head, list(_parts(check)), console.width):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    failed = sum(not check.passed for check in result.checks)
    total = len(result.checks)
    verdict = (
        f"Healthy: all {total} checks passed."
        if result.healthy
        else f"Not healthy: {failed} of {total} checks failed."
    )
    console.print(verdict, highlight=False, markup=False)


# --- what a line says ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One item of a check's evidence. ``prose`` may be shortened to fit; anything else
    (an id, a code, a count) is printed whole."""

    text: str
    prose: bool = False
    glue: str = "; "
    """What stands between it and the part before it on the same line."""


def _parts(check: Check) -> Iterator[Part]:
    evidence = check.evidence
    if "skipped" in evidence:
        yield Part(f"skipped: {evidence['skipped']}", prose=True)
    elif "code" in evidence and "message" in evidence:
        yield Part(str(evidence["code"]))
        yield Part(str(evidence["message"]), prose=True)
    elif check.name == "counts_agree":
        yield from _count_parts(evidence)
    else:
        yield from _plain_parts(evidence)


def _plain_parts(evidence: Mapping[str, Any]) -> Iterator[Part]:
    """Values and lists of values; documents (a file's per-type counts, samples of bad
    rows) are left to ``--json``."""
    for key, value in evidence.items():
        label = key.replace("_", " ")
        if key in HIDDEN or value is None or isinstance(value, Mapping):
            continue
        if isinstance(value, list):
            if value and all(not isinstance(item, Mapping | list) for item in value):
                yield from _listed(f"{label}:", [str(item) for item in value])
            elif not value and key.endswith("missing"):
                yield Part(f"{label}: none")
            continue
        shown = text(value)
        yield Part(f"{label} {shown}", prose=" " in shown)


def _listed(label: str, items: Sequence[str]) -> Iterator[Part]:
    """A label and its items, each whole, wrapped between items."""
    yield Part(label)
    for number, item in enumerate(items):
        yield Part(item, glue=" " if number == 0 else ", ")


def _count_parts(evidence: Mapping[str, Any]) -> Iterator[Part]:
    for object_type, counts in evidence.items():
        yield Part(f"{object_type}s {counts['source']} in source, {counts['target']} in target")
        for side in ("only_in_source", "only_in_target"):
            if counts[side]:
                label = f"{object_type}s {side.replace('_', ' ')}:"
                yield from _listed(label, [str(source_id) for source_id in counts[side]])


def layout(head: str, parts: Sequence[Part], width: int) -> list[str]:
    """``head``, then the parts separated by "; ", wrapped between parts onto indented
    lines. A part longer than a whole line stays whole (the terminal wraps it) unless it
    is prose, which is shortened."""
    lines: list[str] = []
    line = head
    for part in parts:
        glue = "  " if line == head else part.glue
        room = width - len(line) - len(glue)
        if len(part.text) <= room or (part.prose and room >= MIN_PROSE):
            line += glue + (shorten(part.text, room) if part.prose else part.text)
            continue
        lines.append(line)
        room = width - len(INDENT)
        line = INDENT + (shorten(part.text, room) if part.prose else part.text)
    lines.append(line)
    return lines
