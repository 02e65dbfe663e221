"""``idsync sync``: run, watch, restart and approve sync cycles."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from idsync.cli import sync_view
from idsync.cli.changes import print_preview
from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, errors, open_db
from idsync.cli.integration_view import text
from idsync.config import Settings
from idsync.errors.catalogue import DELETION_THRESHOLD, SOURCE_SHRANK
from idsync.manage import integrations, jobs
from idsync.manage.integrations import IntegrationRecord, JobRecord
from idsync.manage.jobs import RESETS
from idsync.sync import engine
from idsync.sync.jobs import JobStatus
from idsync.sync.report import CycleReport

app = typer.Typer(help="Run and watch sync cycles.", no_args_is_help=True)
IntegrationArgument = Annotated[str, typer.Argument(help="Integration id (or its unique name).")]


def _summary(report: CycleReport) -> dict[str, Any]:
    return {
        "integration_id": report.integration_id,
        "cycle_id": report.cycle_id,
        "tracking_id": report.tracking_id,
        "mode": report.mode,
        "outcome": report.outcome,
        "status": report.status,
        "reason_code": report.reason_code,
        "reason": report.reason,
        "counts": report.counts,
        **{
            action: report.counts.get(action, 0)
            for action in (
                "create",
                "update",
                "disable",
                "delete",
                "skip",
                "failed",
                "stagedDelete",
            )
        },
        "seconds": report.seconds,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        **({"preview": report.preview} if report.preview is not None else {}),
    }


def _live(json: bool) -> bool:
    """A progress bar only for a person watching: on a pipe or in a log file (stderr is no
    terminal) its frames would be dumped as text. Not ``Console.is_terminal``: that
    believes FORCE_COLOR, which CI services set for their logs."""
    return not json and sys.stderr.isatty()


@contextmanager
def _progress(enabled: bool, estimates: dict[str, int]) -> Iterator[engine.ProgressCallback | None]:
    if not enabled:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} read · {task.fields[written]:,} written"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(event: engine.Progress) -> None:
            if event.object_type not in tasks:
                total = estimates.get(event.object_type) or None
                tasks[event.object_type] = bar.add_task(
                    f"{event.object_type}s", total=total, written=0, rate=""
                )
            task = tasks[event.object_type]
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{event.read / elapsed:,.0f}/s" if elapsed > 0 else ""
            bar.update(task, completed=event.read, written=event.written, rate=rate)

        yield update


@app.command("run")
def run(
    integration: IntegrationArgument,
    preview: Annotated[
        bool, typer.Option(help="Show what the cycle would change; change nothing.")
    ] = False,
    full: Annotated[
        bool, typer.Option(help="Read everything, not only changes since the last cycle.")
    ] = False,
    even_if_paused: Annotated[
        bool,
        typer.Option(
            help="Run a paused job's cycle anyway (recorded in the audit log); it stays paused."
        ),
    ] = False,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Run one cycle now (a progress bar on a terminal), or follow the one already running,
    then print what it did. Exit code: 0 healthy, 3 quarantine, 4 deletions staged for
    approval, 5 cycle failed (docs/sync.md)."""
    db = open_db(database)
    record = integrations.get_integration(db, integration)
    live = _live(json)
    estimates: dict[str, int] = {}
    if live:  # for the progress bar's ETA: the object counts of the last cycle
        estimates = jobs.linked_counts(db, record.id)
    with _progress(live, estimates) as progress:
        report = jobs.run_cycle(
            db,
            Settings.from_env(),
            record.id,
            full=full,
            preview=preview,
            progress=progress,
            even_if_paused=even_if_paused,
            actor="cli",
            follow_running=True,
            following=None if json else _following,
        )
    if json:
        emit_json(_summary(report))
    else:
        _print_report(report)
    raise typer.Exit(exit_code(report))


def _following(job: JobRecord) -> None:
    errors.print(
        f"A cycle of this job is already running (since {text(job.running_since)}, "
        f"by {job.running_by}): following it to its end.",
        highlight=False,
        soft_wrap=True,
    )


class RunExit(IntEnum):
    """``sync run``'s exit codes (docs/sync.md): is the job healthy after the run? A
    catalogue error that stopped the command before any cycle exits 1, as every command."""

    HEALTHY = 0
    QUARANTINE = 3
    STAGED = 4
    FAILED = 5


STAGED_CODES = (DELETION_THRESHOLD.code, SOURCE_SHRANK.code)


def exit_code(report: CycleReport) -> RunExit:
    if report.reason_code in STAGED_CODES:
        return RunExit.STAGED
    if report.status in (JobStatus.QUARANTINE, JobStatus.DISABLED):
        return RunExit.QUARANTINE
    if report.outcome == "quarantined":  # a paused job, run anyway, keeps its status
        return RunExit.QUARANTINE
    if report.outcome in ("failed", "interrupted"):
        return RunExit.FAILED
    return RunExit.HEALTHY


def _print_report(report: CycleReport) -> None:
    sync_view.cycle(console, report)
    if report.preview:
        print_preview(report.preview)


@app.command("status")
def status(
    integration: Annotated[
        str | None, typer.Argument(help="Integration id; all if omitted.")
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """The status of sync jobs, with the reason for the current one."""
    db = open_db(database)
    if integration is not None:
        record = integrations.get_integration(db, integration)
        pairs = [(record, integrations.get_job(db, record.id))]
    else:
        pairs = integrations.list_integrations(db)
    if not json:
        sync_view.jobs(console, pairs)
        return
    described = [_described(r, j) for r, j in pairs]
    emit_json(described[0] if integration is not None else described)


def _described(record: IntegrationRecord, job: JobRecord) -> dict[str, Any]:
    return {
        "integration_id": record.id,
        "name": record.name,
        "org_id": record.org_id,
        "status": job.status,
        "reason_code": job.reason_code,
        "reason": job.reason,
        "tracking_id": job.tracking_id,
        "auto_sync": record.auto_sync,
        "last_cycle_id": job.last_cycle_id,
        "last_cycle_at": job.last_cycle_at,
        "next_run_at": job.next_run_at,
        "successive_failures": job.successive_failures,
        "quarantined_at": job.quarantined_at,
        "running_since": job.running_since,
        "counts": job.counts,
        "resumable": job.checkpoint is not None,
        "removals": job.removals or {},
    }


@app.command("restart")
def restart(
    integration: IntegrationArgument,
    reset: Annotated[
        list[str], typer.Option(help=f"What to reset: {', '.join(RESETS)} (repeatable).")
    ] = [],  # noqa: B006
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Restart a job (Entra's "Restart provisioning"): clear the chosen state; it runs next."""
    job = jobs.restart(open_db(database), integration, reset or ["quarantine"], actor="cli")
    if json:
        emit_json(
            {
                "integration_id": job.integration_id,
                "status": job.status,
                "reason": job.reason,
                "tracking_id": job.tracking_id,
            }
        )
    else:
        console.print(f"Tracking ID {job.tracking_id}", highlight=False)
        sync_view.print_command(
            console,
            f"Job restarted; status {job.status}. It runs at the next scheduler tick, or now with:",
            "sync",
            "run",
            job.integration_id,
        )


def _pause(integration: str, paused: bool, database: str | None, json: bool) -> None:
    job = jobs.set_paused(open_db(database), integration, paused, actor="cli")
    if json:
        emit_json({"status": job.status, "tracking_id": job.tracking_id})
    else:
        console.print(f"Job {job.status}. Tracking ID {job.tracking_id}", highlight=False)


@app.command("pause")
def pause(
    integration: IntegrationArgument, database: DatabaseOption = None, json: JsonOption = False
) -> None:
    """Stop scheduled cycles until resumed."""
    _pause(integration, True, database, json)


@app.command("resume")
def resume(
    integration: IntegrationArgument, database: DatabaseOption = None, json: JsonOption = False
) -> None:
    """Resume scheduled cycles."""
    _pause(integration, False, database, json)


@app.command("logs")
def logs(
    integration: IntegrationArgument,
    action: Annotated[
        str | None, typer.Option(help="create, update, disable, delete, skip, stagedDelete.")
    ] = None,
    result: Annotated[str | None, typer.Option(help="success, failure, skipped or staged.")] = None,
    source_id: Annotated[str | None, typer.Option(help="One source object.")] = None,
    cycle: Annotated[str | None, typer.Option(help="One cycle id.")] = None,
    limit: Annotated[int, typer.Option(help="Newest entries first, at most this many.")] = 50,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """The provisioning log: every object's fate, with the reason and what to do."""
    db = open_db(database)
    record = integrations.get_integration(db, integration)
    entries = jobs.provisioning_log(
        db,
        record.id,
        cycle_id=cycle,
        action=action,
        result=result,
        source_id=source_id,
        limit=limit,
    )
    if json:
        emit_json(entries)
        return
    sync_view.log_entries(console, f"Provisioning log of {record.name}, newest first", entries)


@app.command("approve-deletes")
def approve_deletes(
    integration: IntegrationArgument, database: DatabaseOption = None, json: JsonOption = False
) -> None:
    """Apply the deletions and disables a cycle staged instead of applying."""
    counts = jobs.approve_deletes(open_db(database), Settings.from_env(), integration, actor="cli")
    if json:
        emit_json(
            {"counts": counts, **{a: counts.get(a, 0) for a in ("disable", "delete", "failed")}}
        )
    else:
        console.print(
            f"Applied: {counts.get('disable', 0)} disabled, {counts.get('delete', 0)} deleted, {counts.get('failed', 0)} failed."
        )


@app.command("user")
def user(
    integration: IntegrationArgument,
    source_id: Annotated[
        str, typer.Argument(help="The user's id in the directory (Entra object id).")
    ],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Provision one user now (Entra's "Provision on demand") and show what happened."""
    db = open_db(database)
    entries = jobs.provision_one(db, Settings.from_env(), integration, "user", source_id)
    if json:
        emit_json(entries)
        return
    sync_view.log_entries(console, "Provisioned on demand", entries)
