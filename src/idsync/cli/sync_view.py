"""How ``sync run``, ``sync status``, ``sync logs`` and ``sync user`` print for a person,
at any width, by the rules of ``integration_view``: ids whole, times ISO 8601 UTC, and a
reason on a line of its own below, never wrapped inside a table cell (a command in it
stays whole when copied)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from idsync.cli.changes import change_lines
from idsync.cli.integration_view import Row, print_rows, text
from idsync.manage.integrations import IntegrationRecord, JobRecord
from idsync.sync.report import CycleReport

LOG_COLUMNS = ("occurred_at", "object_type", "action", "result", "step", "error_code")


def command(*words: str) -> str:
    """``idsync …`` as a shell reads it: names with spaces quoted."""
    return shlex.join(["idsync", *words])


def print_command(console: Console, lead: str, *words: str) -> None:
    """A sentence, then the command it names on a line of its own that is never wrapped."""
    console.print(lead, highlight=False, markup=False, soft_wrap=True)
    console.print(command(*words), highlight=False, markup=False, soft_wrap=True)


def cycle(console: Console, report: CycleReport) -> None:
    """The cycle's counts and timings, then the job's status and reason."""
    console.print(f"[bold]Cycle {report.cycle_id} ({report.mode})[/]", soft_wrap=True)
    view = Table(box=None, pad_edge=False, header_style="bold")
    view.add_column("", no_wrap=True)
    view.add_column("count", no_wrap=True, justify="right")
    for key, value in sorted(report.counts.items()):
        view.add_row(key, f"{value:,}")
    for key, seconds in report.seconds.items():
        view.add_row(f"seconds {key}", f"{seconds:.2f}")
    console.print(view, highlight=False)
    reason: list[Row] = []
    if report.reason_code or report.reason:
        reason = [("reason code", text(report.reason_code)), ("reason", text(report.reason))]
    print_rows(console, f"Job status: {report.status}", reason)


def jobs(console: Console, pairs: Sequence[tuple[IntegrationRecord, JobRecord]]) -> None:
    """One block per job, as ``integration show`` prints its job."""
    if not pairs:
        console.print("No integrations.")
    for number, (record, job) in enumerate(pairs):
        if number:
            console.print()
        print_rows(console, f"Sync job of {record.name}", _job_rows(record, job))


def _job_rows(record: IntegrationRecord, job: JobRecord) -> list[Row]:
    rows: list[Row] = [
        ("integration", record.id),
        ("organisation", record.org_id),
        ("status", job.status),
    ]
    if job.reason_code or job.reason:
        rows += [("reason code", text(job.reason_code)), ("reason", text(job.reason))]
    if job.tracking_id:
        rows.append(("tracking ID", job.tracking_id))
    rows += [
        ("auto sync", text(record.auto_sync)),
        ("last cycle", text(job.last_cycle_at) or "never"),
        ("last cycle id", text(job.last_cycle_id)),
        ("next run", text(job.next_run_at) if record.auto_sync else "only when asked"),
        ("successive failures", text(job.successive_failures)),
    ]
    if job.running_since is not None:
        rows.append(("running since", f"{text(job.running_since)} ({job.running_by})"))
    if job.checkpoint is not None:
        rows.append(("resumable", "yes: the next cycle continues from its checkpoint"))
    return rows + removal_rows(job.removals or {})


def removal_rows(removals: dict[str, Any]) -> list[Row]:
    """How the latest cycle saw deletions, per object type (one row when they agree)."""
    seen = {
        (r["mode"], r["reason"]): [t for t in removals if removals[t] == r]
        for r in removals.values()
    }
    return [
        (f"deletions ({'/'.join(f'{t}s' for t in types)})", f"{mode}: {reason}")
        for (mode, reason), types in seen.items()
    ]


def log_entries(console: Console, title: str, entries: Sequence[dict[str, Any]]) -> None:
    """Provisioning log entries: a line of fixed fields, the object's id (then its name),
    and the reason and what to do below, each on a line of its own."""
    console.print(f"[bold]{title}[/]", highlight=False, soft_wrap=True)
    if not entries:
        console.print("No entries.")
        return
    cells = [[text(entry[key]) for key in LOG_COLUMNS] for entry in entries]
    widths = [max(len(row[n]) for row in cells) for n in range(len(LOG_COLUMNS))]
    for entry, row in zip(entries, cells, strict=True):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        console.print(line.rstrip(), highlight=False, markup=False, soft_wrap=True)
        name = f"  {entry['source_id']}" + (f"  {entry['display']}" if entry["display"] else "")
        console.print(name, highlight=False, markup=False, soft_wrap=True)
        for said in (entry["reason"], entry["recommended_action"]):
            if said:
                console.print(f"  {said}", highlight=False, markup=False, soft_wrap=True)
        changed = (entry.get("changes") or {}).get("changes") or []
        for line in change_lines(changed, console.width):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
