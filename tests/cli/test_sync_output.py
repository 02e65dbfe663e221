"""``sync run``, ``sync status``, ``sync logs`` and ``sync restart`` as a person reads
them in an 80-column terminal: ids whole, times ISO 8601 UTC, long reasons below on a
line of their own, and every command printed runnable as printed."""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_advice import _args, commands_in, parse
from tests.cli.test_sync_run import Hub

ISO_UTC = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\b")
NAME = "Human resources export of the whole company"
LONG_NAME = "Someone With A Rather Long Display Name"


@pytest.fixture
def staged(tmp_path: Path) -> tuple[Hub, list[str], str]:
    """A file integration with uuid ids whose second cycle staged three removals (a long
    reason); the users' ids, and what that cycle printed."""
    hub = Hub(f"sqlite:///{tmp_path / 'out.db'}", "", tmp_path / "users.csv", "")
    hub.org = hub.json("org", "create", "Contoso")["id"]
    ids = [str(uuid.uuid4()) for _ in range(5)]
    _write(hub, ids)
    added = hub.json(
        "integration", "add", "file", "--org", hub.org, "--name", NAME,
        "--users", str(hub.users), "--deletion-threshold", "2",
    )  # fmt: skip
    hub.integration = added["id"]
    assert hub.run("sync", "run", NAME).returncode == 0
    _write(hub, ids[:2])
    second = hub.run("sync", "run", NAME)
    assert second.returncode == 4, second.stderr
    return hub, ids, second.stdout


def _write(hub: Hub, ids: list[str]) -> None:
    rows = [f"{i},user{n}@example.org,{LONG_NAME} {n}" for n, i in enumerate(ids)]
    hub.users.write_text("\n".join(["id,userName,displayName", *rows]) + "\n")


def assert_fits(output: str, long_values: list[str]) -> None:
    """Every line fits in 80 columns but a long value's own line (below a ``name:`` line,
    or a log entry's reason), which the terminal wraps: a command in it stays whole."""
    lines = output.splitlines()
    for number, line in enumerate(lines):
        below = number > 0 and re.fullmatch(r"[a-z ()/-]+:", lines[number - 1])
        assert below or line.strip() in long_values or len(line) <= 80, line
    assert "…" not in output  # nothing cut


def assert_commands_run_as_printed(output: str) -> list[list[str]]:
    commands = [shlex.split(c)[1:] for c in commands_in(output)]
    for args in commands:
        parse(_args(shlex.join(["idsync", *args])))
    return commands


def test_sync_run_fits_80_columns(staged: tuple[Hub, list[str], str]) -> None:
    hub, _, output = staged
    status = hub.json("sync", "status", hub.integration)
    assert_fits(output, [status["reason"]])
    assert re.search(rf"^Cycle {status['last_cycle_id']} \(incremental\)$", output, re.M)
    assert re.search(r"^Job status: Quarantine$", output, re.M)
    assert re.search(r"^reason code +IDS-409-010$", output, re.M)
    assert f"\nreason:\n{status['reason']}\n" in output
    assert_commands_run_as_printed(output)


def test_sync_status_fits_80_columns_with_whole_ids_and_iso_times(
    staged: tuple[Hub, list[str], str],
) -> None:
    hub, _, _ = staged
    status = hub.json("sync", "status", hub.integration)
    for output in (
        hub.run("sync", "status").stdout,
        hub.run("sync", "status", NAME).stdout,
    ):
        assert_fits(output, [status["reason"]])
        words = output.split()
        for whole in (hub.integration, hub.org, status["last_cycle_id"]):
            assert whole in words, output
        assert ISO_UTC.search(output)
        assert f"\nreason:\n{status['reason']}\n" in output
        for word in ("datetime", "True", "False", "None"):
            assert word not in words
        commands = assert_commands_run_as_printed(output)
        assert ["sync", "approve-deletes", hub.integration] in commands
    approved = hub.run("sync", "approve-deletes", hub.integration)
    assert approved.returncode == 0, approved.stderr


def test_sync_logs_fits_80_columns_with_whole_ids_and_iso_times(
    staged: tuple[Hub, list[str], str],
) -> None:
    hub, ids, _ = staged
    output = hub.run("sync", "logs", NAME).stdout
    entries: list[dict[str, Any]] = hub.json("sync", "logs", NAME)
    said = [e[k] for e in entries for k in ("reason", "recommended_action") if e[k]]
    assert_fits(output, said)
    words = output.split()
    for whole in ids:
        assert whole in words, output
    assert len(ISO_UTC.findall(output)) == len(entries) == 8
    for entry in entries:
        assert entry["occurred_at"] in words
    assert_commands_run_as_printed(output)


@pytest.mark.parametrize("columns", [80, 100])
def test_sync_restart_prints_the_command_whole(
    staged: tuple[Hub, list[str], str], columns: int
) -> None:
    hub, _, _ = staged
    output = hub.run("sync", "restart", NAME, "--reset", "quarantine", columns=columns).stdout
    assert_fits(output, [])
    assert f"\nidsync sync run {hub.integration}\n" in output
    assert assert_commands_run_as_printed(output) == [["sync", "run", hub.integration]]
