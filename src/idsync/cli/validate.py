"""``idsync validate ID``: the checklist that proves an integration is healthy.

For a person, one line per check (✓ or ✗, its name, its evidence), continued on
indented lines when it does not fit: at any width, and never cutting a word, so ids,
codes and commands stay whole (a word longer than a line stands on a line of its own).
An error told by an earlier check is named by its code only; what to do about each error
follows the checklist, on a line of its own that the terminal wraps (a URL or command in
it stays whole when copied). Everything is in ``--json``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db
from idsync.cli.integration_view import print_rows, text
from idsync.config import Settings
from idsync.manage.validation import CHECKS, Check, Validation, validate_integration

INDENT = "    "
NAME_WIDTH = max(len(name) for name in CHECKS)
HIDDEN = {
    # The permissions, told by service_principal_present.
    "credentials_accepted": ("roles_granted", "roles_needed", "roles_missing"),
    # Those needed stand in the two lists beside them.
    "service_principal_present": ("roles_needed",),
}
"""Evidence left to ``--json`` because the line would only repeat it."""


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
    told: dict[str, str] = {}
    for check in result.checks:
        mark = "✓" if check.passed else "✗"
        head = f"{mark} {check.name:<{NAME_WIDTH}}"
        for line in layout(head, list(_parts(check, told)), console.width):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    failed = sum(not check.passed for check in result.checks)
    total = len(result.checks)
    verdict = (
        f"Healthy: all {total} checks passed."
        if result.healthy
        else f"Not healthy: {failed} of {total} checks failed."
    )
    console.print(verdict, highlight=False, markup=False)
    for code, action in told.items():
        if action:
            # On a line of its own, wrapped by the terminal: a URL or command in it stays
            # whole when copied (as sync_view prints a job's reason).
            console.print(f"To do ({code}):", highlight=False, markup=False)
            console.print(action, highlight=False, markup=False, soft_wrap=True)


# --- what a line says ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One item of a check's evidence: a word or words that stay on one line."""

    text: str
    glue: str = "; "
    """What stands between it and the part before it on the same line."""
    flow: bool = False
    """Prose: wrapped between its words. Otherwise the part moves to the next line whole
    (a label with its value), and is wrapped between words only if no line holds it."""


def _parts(check: Check, told: dict[str, str]) -> Iterator[Part]:
    """The evidence as parts; ``told``: the codes whose message an earlier check showed,
    with the action to print below the checklist."""
    evidence = check.evidence
    if "skipped" in evidence:
        yield from _prose(f"skipped: {evidence['skipped']}")
    elif "code" in evidence and "message" in evidence:
        yield from _error(evidence, told)
    elif check.name == "counts_agree":
        yield from _count_parts(evidence)
    else:
        yield from _plain_parts(evidence, HIDDEN.get(check.name, ()), told)


def _error(evidence: Mapping[str, Any], told: dict[str, str]) -> Iterator[Part]:
    code = str(evidence["code"])
    if code in told:
        yield Part(f"{code}, as above")
        return
    told[code] = str(evidence.get("action") or "")
    yield Part(code)
    yield from _prose(str(evidence["message"]))


def _prose(text: str) -> Iterator[Part]:
    yield Part(text, flow=True)


def _plain_parts(
    evidence: Mapping[str, Any], hidden: Sequence[str], told: Mapping[str, str]
) -> Iterator[Part]:
    """Values and lists of values; documents (a file's per-type counts, samples of bad
    rows) are left to ``--json``. A job's reason is named by its code once told."""
    for key, value in evidence.items():
        label = key.replace("_", " ")
        if key in hidden or value is None or isinstance(value, Mapping):
            continue
        if key == "reason" and evidence.get("reason_code") in told:
            continue
        if isinstance(value, list):
            if value and all(not isinstance(item, Mapping | list) for item in value):
                yield from _listed(f"{label}:", [str(item) for item in value])
            elif not value and key.endswith("missing"):
                yield Part(f"{label}: none")
            continue
        yield Part(f"{label} {text(value)}")


def _listed(label: str, items: Sequence[str]) -> Iterator[Part]:
    """A label and its items, each whole, wrapped between items."""
    yield Part(f"{label} {items[0]}")
    yield from (Part(item, glue=", ") for item in items[1:])


def _count_parts(evidence: Mapping[str, Any]) -> Iterator[Part]:
    for object_type, counts in evidence.items():
        said = f"{object_type}s {counts['source']} in source, {counts['target']} in target"
        if counts["out_of_scope"]:
            said += f", {counts['out_of_scope']} out of scope"
        yield Part(said)
        for side in ("only_in_source", "only_in_target"):
            if counts[side]:
                label = f"{object_type}s {side.replace('_', ' ')}:"
                yield from _listed(label, [str(source_id) for source_id in counts[side]])


def layout(head: str, parts: Sequence[Part], width: int) -> list[str]:
    """``head``, then the parts, wrapped between parts onto indented lines; a line ends
    with its glue's punctuation (``;``, ``,``), for which one column is kept free. A part
    longer than a whole line stands whole on a line of its own (the terminal wraps it)."""
    lines: list[str] = []
    line = head
    for part in _words(parts, width - len(INDENT)):
        glue = "  " if line == head else part.glue
        if len(line) + len(glue) + len(part.text) < width:
            line += glue + part.text
            continue
        lines.append(line + glue.rstrip())
        line = INDENT + part.text
    lines.append(line)
    return [line.rstrip() for line in lines]


def _words(parts: Sequence[Part], room: int) -> Iterator[Part]:
    """Prose and parts longer than ``room`` as words (the first keeps the part's glue)."""
    for part in parts:
        if not part.flow and len(part.text) < room:
            yield part
            continue
        for number, word in enumerate(part.text.split()):
            yield Part(word, part.glue if number == 0 else " ")
