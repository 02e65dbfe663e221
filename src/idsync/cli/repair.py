"""``idsync repair ID``: the repair of an integration's open finding (docs/health.md,
"Repair"). For a removed service principal it prints the consent link, whose callback
on ``idsync serve`` finishes the repair, and waits for it; otherwise the finding's steps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db
from idsync.config import Settings
from idsync.manage.repair import CAUSE, RepairStatus, repair_status

_POLL_SECONDS = 2.0


def repair(
    integration: Annotated[str, typer.Argument(help="Integration id (or its unique name).")],
    wait: Annotated[
        bool, typer.Option(help="Wait until the consent callback has repaired the job.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 900,
    public_url: Annotated[
        str | None,
        typer.Option(help="The public URL of the server (default: IDSYNC_PUBLIC_URL)."),
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Repair an integration: for a removed enterprise application, print the admin-consent
    link and wait for its callback to finish the repair. Exit code 0: repaired (or
    nothing to repair); 1: not repaired yet."""
    db = open_db(database)
    config = Settings.from_env(public_url=public_url)
    status = repair_status(db, config, integration)
    callback = status.finding is not None and status.finding.cause == CAUSE
    if not json:
        _advice(status)
    if callback and wait and status.consent_url:
        status = _wait(lambda: repair_status(db, config, integration), timeout)
    if json:
        emit_json(_json(status))
    elif callback:
        _outcome(status)
    raise typer.Exit(0 if status.repaired else 1)


def _wait(current: Callable[[], RepairStatus], timeout: float) -> RepairStatus:
    """Poll the job and its finding until the callback repaired them, or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        status = current()
        if status.repaired or time.monotonic() >= deadline:
            return status
        time.sleep(_POLL_SECONDS)


def _advice(status: RepairStatus) -> None:
    finding = status.finding
    if finding is None:
        console.print(f"{status.integration.name}: no open finding, nothing to repair.")
        return
    console.print(finding.summary, highlight=False, markup=False, soft_wrap=True)
    if finding.cause == CAUSE and status.consent_url:
        console.print("A tenant administrator opens this link and presses Accept:", highlight=False)
        # On a line of its own, never wrapped: it copies whole.
        console.print(status.consent_url, highlight=False, markup=False, soft_wrap=True)
        return
    for number, step in enumerate(finding.repair, start=1):
        console.print(f"{number}. {step.text}", highlight=False, markup=False, soft_wrap=True)
        for line in (step.url, step.command):
            if line:
                console.print(f"   {line}", highlight=False, markup=False, soft_wrap=True)


def _outcome(status: RepairStatus) -> None:
    if status.repaired:
        console.print(f"Repaired: the job is {status.job.status}.", highlight=False)
    else:
        console.print(
            f"Not repaired yet: the job is {status.job.status}.", highlight=False, markup=False
        )


def _json(status: RepairStatus) -> dict[str, Any]:
    return {
        "integration_id": status.integration.id,
        "cause": status.finding.cause if status.finding else None,
        "consent_url": status.consent_url,
        "repaired": status.repaired,
        "job_status": status.job.status,
    }
