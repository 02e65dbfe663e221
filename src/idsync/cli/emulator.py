"""``idsync emulator``: serve a local Entra-ID-compatible directory over HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from idsync.cli.common import console
from idsync.emulator.delta import DEFAULT_MEMBER_BUDGET


def emulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 0,
    users: Annotated[int, typer.Option(help="Users to seed (the first is the admin).")] = 50,
    groups: Annotated[int, typer.Option(help="Groups to seed.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same tenant.")] = 1,
    memberships_per_user: Annotated[
        int, typer.Option(help="Groups each seeded user is a member of.")
    ] = 10,
    members_per_page: Annotated[
        int,
        typer.Option(
            help="Member budget of a groups delta page: larger groups are split over pages."
        ),
    ] = DEFAULT_MEMBER_BUDGET,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(help="Extra redirect URI registered on the sync app (repeatable)."),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for the TLS certificate and key (default: a new temp dir)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON line once listening.")
    ] = False,
) -> None:
    """Serve a local Entra ID tenant: token endpoint, admin consent and Graph v1.0."""
    # The emulator (Starlette, uvicorn) loads here, not for every other idsync command.
    from idsync.emulator.context import EmulatorConfig, build_emulator
    from idsync.emulator.seed import SeedConfig
    from idsync.emulator.server import serve

    started = time.perf_counter()
    folder = state_dir or Path(tempfile.mkdtemp(prefix="idsync-emulator-"))
    config = EmulatorConfig(
        seed=SeedConfig(
            users=users,
            groups=groups,
            seed=seed,
            memberships_per_user=memberships_per_user,
            redirect_uris=list(redirect_uri or []),
        ),
        member_budget=members_per_page,
    )
    try:
        instance = build_emulator(config)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    def ready(info: dict[str, Any]) -> None:
        (folder / "emulator.json").write_text(json.dumps(info, indent=2) + "\n")
        if json_output:
            sys.stdout.write(json.dumps(info) + "\n")
            sys.stdout.flush()
            return
        console.print(
            f"[bold]idsync emulator[/] listening on {info['url']} "
            f"(ready in {time.perf_counter() - started:.1f} s)\n"
            f"  tenant        {info['tenant_id']} ({info['tenant_domain']})\n"
            f"  users/groups  {info['users']} / {info['groups']}, "
            f"{info['memberships']} memberships\n"
            f"  authority     {info['authority']}\n"
            f"  graph         {info['graph_url']}/v1.0/\n"
            f"  client id     {info['client_id']}\n"
            f"  client secret {info['client_secret']}\n"
            f"  admin consent {info['authority']}/adminconsent?client_id={info['client_id']}\n"
            f"  CA file       {info['ca_file']}\n"
            f"  admin token   in {folder / 'emulator.json'}",
            highlight=False,
            soft_wrap=True,
        )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(instance, host, port, folder, ready))
