"""``idsync doctor``: what is wrong with each failing integration, how idsync knows,
what it protected, and how to repair it (docs/health.md)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, errors, open_db
from idsync.cli.integration_view import Row, print_rows, text
from idsync.config import Settings
from idsync.health.findings import Finding
from idsync.manage import health, who

_SHOWN_ELSEWHERE = frozenset({"reason", "consent_url"})
"""Evidence a person reads elsewhere: the job's reason (``sync status``), the consent
link (the repair's first step). ``--json`` has them all."""


def doctor(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation.")] = None,
    integration: Annotated[
        str | None, typer.Option("--integration", help="Only this integration (id or name).")
    ] = None,
    sign_in: Annotated[
        bool,
        typer.Option(
            "--sign-in",
            help="Sign in as a tenant administrator to read who did it now, from the "
            "directory audit log (with --integration).",
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 300,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Diagnose failing integrations, and directories the hub refuses: cause, evidence,
    what was protected, the repair. Exit code 0: no open finding; 1: at least one."""
    db, config = open_db(database), Settings.from_env()
    if sign_in:
        if integration is None:
            raise typer.BadParameter("--sign-in needs --integration ID", param_hint="--sign-in")
        who.who_by_sign_in(db, config, integration, _show_link(json), timeout=timeout)
    found = health.doctor(db, org_id=org, ref=integration, config=config)
    if json:
        emit_json({"findings": [finding.to_json() for finding in found]})
    else:
        report(console, found)
    if found:
        raise typer.Exit(1)


def _show_link(json: bool) -> Callable[[str], None]:
    """Where the sign-in link goes: stdout, or stderr when stdout is for JSON."""
    out = errors if json else console

    def show(url: str) -> None:
        out.print(
            "Sign in as a tenant administrator (Reports Reader, Security Reader or Global "
            "Administrator) to read who did it; open this link in a browser:",
            highlight=False,
        )
        out.print(f"   {url}", highlight=False, markup=False, soft_wrap=True)

    return show


def report(out: Console, found: list[Finding]) -> None:
    if not found:
        out.print("No open findings: every integration looked at is healthy.")
    for number, finding in enumerate(found):
        if number:
            out.print()
        _finding(out, finding)


def _finding(out: Console, finding: Finding) -> None:
    _prose(out, f"✗ {finding.summary}", style="bold red")
    subject: Row = (
        ("token", finding.token_id)
        if finding.token_id
        else ("integration", finding.integration_id or "")
    )
    rows: list[Row] = [
        subject,
        ("cause", f"{finding.cause} (confidence: {finding.confidence})"),
        ("tracking ID", finding.tracking_id),
    ]
    if finding.created_at is not None:
        rows.append(("found", text(finding.created_at)))
    print_rows(out, "Finding", rows)
    evidence = [
        (key, text(value))
        for key, value in finding.evidence.items()
        if value is not None and key not in _SHOWN_ELSEWHERE
    ]
    print_rows(out, "Evidence", evidence)
    out.print("[bold]Protected[/]", highlight=False)
    _prose(out, str(finding.protected.get("summary", "")))
    out.print("[bold]Repair[/]", highlight=False)
    for step_number, step in enumerate(finding.repair, start=1):
        who = "" if step.by == "administrator" else f" ({step.by})"
        _prose(out, f"{step_number}. {step.text}{who}")
        for line in (step.url, step.command):
            if line:  # on a line of its own, never wrapped: it copies whole
                out.print(f"   {line}", highlight=False, markup=False, soft_wrap=True)


def _prose(out: Console, words: str, style: str | None = None) -> None:
    """Wrapped at the terminal's width between words (an ID is never cut), continued
    lines indented under the first."""
    wrapped = textwrap.fill(words, width=out.width, subsequent_indent="   ", break_long_words=False)
    out.print(wrapped, style=style, highlight=False, markup=False, soft_wrap=True)
