"""``idsync demo``: the incident, on one machine, with nothing else set up.

``idsync demo`` starts the Entra emulator with a seeded tenant and ``idsync serve`` on a
fresh SQLite file, connects an Entra integration and runs its first cycle, prints where
to look, and stays in the foreground until interrupted. From another shell,
``idsync demo break CAUSE`` reproduces what an administrator can do to the tenant
(``remove-service-principal``, ``revoke-consent``, ``expire-secret``, ``disable-app``,
``throttle``); ``idsync doctor`` then says what happened (docs/health.md), and
``idsync demo fix CAUSE`` does the tenant administrator's part of the repair.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from idsync.cli.common import console
from idsync.config import Settings
from idsync.manage import integrations, jobs, orgs, tokens
from idsync.manage.database import open_current
from idsync.manage.repair import repair_status

app = typer.Typer(
    help="The incident, reproduced locally: run `idsync demo`, then `idsync demo break CAUSE`.",
    invoke_without_command=True,
)

CAUSES = ("remove-service-principal", "revoke-consent", "expire-secret", "disable-app", "throttle")
STARTUP_SECONDS = 60.0
_RESTART = "sync restart {id} --reset quarantine"


def _pointer() -> Path:
    """Where a running demo leaves its details for ``idsync demo break``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "idsync" / "demo.json"


@app.callback()
def demo(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the hub (0: any free port).")] = 0,
    users: Annotated[int, typer.Option(help="Users in the seeded tenant.")] = 200,
    groups: Annotated[int, typer.Option(help="Groups in the seeded tenant.")] = 20,
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Folder for the demo's files (default: new).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON line once ready.")
    ] = False,
) -> None:
    """Start the emulator and the hub, connect and sync an Entra integration, and wait."""
    if ctx.invoked_subcommand is not None:
        return
    home = folder or Path(tempfile.mkdtemp(prefix="idsync-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    hub_url = f"http://127.0.0.1:{port}"
    with _children() as children:
        emulator = _start_emulator(children, home, users, groups, hub_url)
        database_url = f"sqlite:///{home / 'hub.db'}"
        details = _connect(database_url, emulator, hub_url)
        _start_hub(children, home, port, database_url, hub_url)
        details = {**details, "hub_url": hub_url, "database_url": database_url, "dir": str(home)}
        _pointer().parent.mkdir(parents=True, exist_ok=True)
        _pointer().write_text(json.dumps({**details, "emulator": emulator}, indent=2) + "\n")
        _pointer().chmod(0o600)  # it holds the emulator's admin token
        if json_output:
            sys.stdout.write(json.dumps(details) + "\n")
            sys.stdout.flush()
        else:
            _welcome(details, emulator)
        _wait(children)


@app.command("break")
def break_(
    cause: Annotated[str, typer.Argument(help=f"One of: {', '.join(CAUSES)}.")],
) -> None:
    """Reproduce an incident in the running demo's tenant, as its administrator."""
    details = _running(cause)
    _emulator_control(details, "break", {"cause": cause})
    emulator = details["emulator"]
    console.print(
        f"Done: {cause} in tenant {emulator['tenant_id']}, as {emulator['admin_upn']}.\n"
        "The next cycle meets it. Run one now, then ask idsync what happened:",
        highlight=False,
        soft_wrap=True,
    )
    _commands(details, "sync run {id}", "doctor --integration {id}")


@app.command("fix")
def fix(
    cause: Annotated[str, typer.Argument(help=f"One of: {', '.join(CAUSES)}.")],
) -> None:
    """Do the tenant administrator's part of the repair in the running demo's tenant
    (what they would do in the Entra admin center), then print the rest of the repair."""
    details = _running(cause)
    admin = details["emulator"]["admin_upn"]
    if cause in ("remove-service-principal", "revoke-consent"):
        _consent(details, cause, admin)
        return
    answer = _emulator_control(details, "fix", {"cause": cause})
    if cause == "expire-secret":
        secret_file = Path(details["dir"]) / "client-secret"
        secret_file.write_text(answer["secretText"] + "\n")
        secret_file.chmod(0o600)
        console.print(
            f"Done, as {admin}: a new client secret, written to {secret_file}.\n"
            "Give it to idsync, clear the quarantine, run a cycle, and validate:",
            highlight=False,
            soft_wrap=True,
        )
        _commands(
            details,
            f"integration update {{id}} --client-secret-file {shlex.quote(str(secret_file))}",
            _RESTART,
            "sync run {id}",
            "validate {id}",
        )
        return
    done = "the application enabled again" if cause == "disable-app" else "throttling ended"
    console.print(
        f"Done, as {admin}: {done}. Clear the quarantine, run a cycle, and validate:",
        highlight=False,
        soft_wrap=True,
    )
    _commands(details, _RESTART, "sync run {id}", "validate {id}")


def _consent(details: dict[str, Any], cause: str, admin: str) -> None:
    """Admin consent through the link the finding prints (for a removed service principal
    it comes back to the hub's /consent/callback, which finishes the repair itself)."""
    db = open_current(details["database_url"])
    config = Settings.from_env(public_url=details["hub_url"])
    status = repair_status(db, config, details["integration_id"])
    link = status.consent_url or next(
        (step.url for step in (status.finding.repair if status.finding else ()) if step.url),
        None,
    )
    if link is None:
        raise typer.BadParameter("no consent link to follow: run the cycle and doctor first")
    console.print(
        f"In a browser, as {admin}, you would open this link and press Accept:",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"  {link}", highlight=False, markup=False, soft_wrap=True)
    location = _emulator_control(details, "fix", {"cause": cause, "consent_url": link})["location"]
    if location.startswith(f"{details['hub_url']}/consent/callback"):
        page = httpx.get(location, timeout=STARTUP_SECONDS)
        console.print(
            f"Accepted. idsync's consent callback answered {page.status_code}: "
            f"{_title(page.text)}. Validate:",
            highlight=False,
            soft_wrap=True,
        )
        _commands(details, "validate {id}")
    else:
        console.print(
            "Accepted. Clear the quarantine, run a cycle, and validate:",
            highlight=False,
            soft_wrap=True,
        )
        _commands(details, _RESTART, "sync run {id}", "validate {id}")


def _running(cause: str) -> dict[str, Any]:
    if cause not in CAUSES:
        raise typer.BadParameter(f"choose one of: {', '.join(CAUSES)}", param_hint="CAUSE")
    if not _pointer().exists():
        raise typer.BadParameter("no demo is running: start one with `idsync demo`")
    running: dict[str, Any] = json.loads(_pointer().read_text())
    return running


def _emulator_control(details: dict[str, Any], name: str, body: dict[str, str]) -> Any:
    emulator = details["emulator"]
    answer = httpx.post(
        f"{emulator['url']}/_emulator/{name}",
        json=body,
        headers={"Authorization": f"Bearer {emulator['admin_token']}"},
        verify=emulator["ca_file"],
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()


def _commands(details: dict[str, Any], *commands: str) -> None:
    """Each ``idsync`` command (``{id}``: the demo's integration) on a line of its own."""
    integration, database = details["integration_id"], details["database_url"]
    for command in commands:
        line = f"idsync {command.format(id=integration)} --database {shlex.quote(database)}"
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _title(page: str) -> str:
    start, end = page.find("<title>"), page.find("</title>")
    return page[start + 7 : end] if 0 <= start < end else "(no title)"


# --- the demo's parts -----------------------------------------------------------------------


@contextlib.contextmanager
def _children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The emulator and the hub: stopped whatever happens, the hub first."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.terminate()
        for child in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=10)
            if child.poll() is None:
                child.kill()


def _start_emulator(
    children: list[subprocess.Popen[bytes]], home: Path, users: int, groups: int, hub_url: str
) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "idsync", "emulator", "--port", "0",
        "--users", str(users), "--groups", str(groups), "--seed", "1",
        "--state-dir", str(home / "emulator"), "--redirect-uri", f"{hub_url}/consent/callback",
        "--json",
    ]  # fmt: skip
    with (home / "emulator.log").open("wb") as log:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
    children.append(child)
    line = _first_line(child)
    if not line:
        raise typer.BadParameter(f"the emulator did not start; see {home / 'emulator.log'}")
    info: dict[str, Any] = json.loads(line)
    return info


def _connect(database_url: str, emulator: dict[str, Any], hub_url: str) -> dict[str, Any]:
    """An org, a SCIM token and an Entra integration whose first cycle is done."""
    db = open_current(database_url)
    config = Settings.from_env()
    org = orgs.create_org(db, "Demo organisation", actor="demo")
    token = tokens.issue(db, org.id, "demo", actor="demo")
    record = integrations.add_integration(
        db,
        config,
        org_id=org.id,
        kind="entra",
        name="Entra ID",
        settings={
            "tenant_id": emulator["tenant_id"],
            "client_id": emulator["client_id"],
            "authority": emulator["url"],
            "graph_url": emulator["graph_url"],
            "ca_file": emulator["ca_file"],
        },
        secrets={"client_secret": emulator["client_secret"]},
        options=integrations.IntegrationOptions(interval_seconds=5 * 60),
        actor="demo",
    )
    report = jobs.run_cycle(db, config, record.id, actor="demo")
    return {
        "org_id": org.id,
        "integration_id": record.id,
        "emulator_url": emulator["url"],
        "scim_url": f"{hub_url}/scim/{org.id}/v2",
        "token": token.secret,
        "first_cycle": {"status": report.status, "counts": report.counts},
    }


def _start_hub(
    children: list[subprocess.Popen[bytes]], home: Path, port: int, database: str, url: str
) -> None:
    command = [
        sys.executable, "-m", "idsync", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--database", database, "--public-url", url, "--log-level", "warning",
    ]  # fmt: skip
    with (home / "hub.log").open("wb") as log:
        children.append(subprocess.Popen(command, stdout=log, stderr=log))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise typer.BadParameter(f"the hub did not start; see {home / 'hub.log'}")


def _welcome(details: dict[str, Any], emulator: dict[str, Any]) -> None:
    database, integration = details["database_url"], details["integration_id"]
    counts = details["first_cycle"]["counts"]
    lines = [
        "[bold]idsync demo[/] is running (Ctrl-C stops it).",
        f"  hub            {details['hub_url']}",
        f"  SCIM API       {details['scim_url']}",
        f"  emulator       {details['emulator_url']}",
        f"  tenant admin   {emulator['admin_upn']} (password {emulator['admin_password']},",
        "                 for the emulator's sign-in page)",
        f"  org            {details['org_id']}",
        f"  integration    {integration}",
        f"  first cycle    {details['first_cycle']['status']}: "
        f"{counts.get('create', 0)} objects created",
        f"  files          {details['dir']}",
        "",
        "In every other shell, point idsync at the demo's hub first (the commands",
        "findings print then run as printed, and consent links come back to the hub):",
        f"  export IDSYNC_DATABASE_URL={shlex.quote(database)}",
        f"  export IDSYNC_PUBLIC_URL={details['hub_url']}",
        "",
        "Now break it as an administrator would:",
        "  idsync demo break remove-service-principal",
        f"  idsync sync run {integration}",
        f"  idsync doctor --integration {integration}",
        "Then do the tenant administrator's part of the repair, and follow the rest:",
        "  idsync demo fix remove-service-principal",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _wait(children: list[subprocess.Popen[bytes]]) -> None:
    """Until Ctrl-C or SIGTERM, or until a part stops by itself."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
    finally:
        _pointer().unlink(missing_ok=True)


def _first_line(child: subprocess.Popen[bytes]) -> bytes:
    assert child.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and child.poll() is None:
            if selector.select(timeout=0.2):
                return child.stdout.readline().strip()
    return b""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
