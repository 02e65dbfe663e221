"""Benchmark directory sync: Entra ID (the local emulator) → idsync's hub.

One run, per directory size: start ``idsync emulator`` with a seeded directory,
connect an org to it, time the initial cycle (``idsync sync run``), make 100
changes through the Graph API, and time the incremental cycle; the syncing
process's peak memory is read from /proc (VmHWM) while it runs. Two sizes show
whether the incremental cycle's cost grows with the directory.

The peer is Microsoft Entra's provisioning service as Microsoft documents it
(initial cycles take 0.01–0.08 minutes per object: 713–2,340 minutes for 10k–100k
objects); it cannot run here, so the ratios are against those published figures.

    python benchmarks/bench_sync.py [--quick | --million] [--backend sqlite|postgresql]

``--million`` measures issue 12's large directory alone (1,000,000 users, 100,000
groups, about 10,000,000 memberships: about 10 minutes on SQLite, more on PostgreSQL)
and writes its own section of RESULTS.md.

``--baseline-src DIR`` measures, in the same run, the initial cycle of this checkout
and of the code in ``DIR`` (another checkout's ``src``), taking turns: a change's
effect, apart from how fast the machine happens to be that hour.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import floor  # noqa: E402
from results import cpu_model, memory_total, write_section  # noqa: E402

INITIAL_GOAL_SECONDS = {"sqlite": 30, "postgresql": 40}
"""Issue 12's goal for the initial cycle of 100,000 users, 10,000 groups, 1M memberships."""
PEAK_GOAL_MB = 300
MILLION = (1_000_000, 100_000)
MILLION_GOAL_SECONDS = 360
"""Issue 12's goals for a million users: the initial cycle under 6 minutes on both
databases, the syncing process under 500 MB."""
MILLION_PEAK_GOAL_MB = 500
ENTRA_MINUTES_PER_OBJECT = (0.01, 0.08)
"""Microsoft's documented initial-cycle cost (Entra provisioning: "How long will it take")."""


@dataclass
class Run:
    wall: float
    peak_mb: float
    summary: dict[str, Any]

    @property
    def cycle(self) -> float:
        return float(self.summary["seconds"]["cycle"])


@dataclass
class SizeResult:
    users: int
    groups: int
    memberships: int
    seed_seconds: float
    initial: Run
    incremental: Run
    changes: dict[str, int] = field(default_factory=dict)
    storage_floor: floor.Floor = field(default_factory=floor.Floor)
    cycles: list[float] = field(default_factory=list)
    """With ``--repeat``: every run's initial cycle, of which this is the median run."""


def median_run(runs: list[SizeResult]) -> SizeResult:
    """The run whose initial cycle is the median of ``runs`` (each its own emulator, hub
    and floor), listing every run's cycle: on a shared machine one run can be 15% off."""
    ordered = sorted(runs, key=lambda r: r.initial.cycle)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.cycles = [r.initial.cycle for r in runs] if len(runs) > 1 else []
    return chosen


def idsync(env: dict[str, str], *args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "idsync", *args, "--json"], env=env, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"idsync {' '.join(args)}: {result.stderr.decode()}")
    return json.loads(result.stdout)


def timed_sync(env: dict[str, str], integration_id: str) -> Run:
    """Run one cycle in its own process, sampling its peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "idsync", "sync", "run", integration_id, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    peak = 0.0
    status = Path(f"/proc/{process.pid}/status")

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
            except OSError:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(err.decode())
    return Run(wall, peak, json.loads(out))


def start_emulator(
    users: int, groups: int, workdir: Path
) -> tuple[subprocess.Popen[bytes], dict[str, Any], float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "idsync",
            "emulator",
            "--port",
            "0",
            "--users",
            str(users),
            "--groups",
            str(groups),
            "--seed",
            "1",
            "--state-dir",
            str(workdir / "emulator"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=(workdir / "emulator.log").open("wb"),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError((workdir / "emulator.log").read_text())
    return process, json.loads(line), time.perf_counter() - started


def make_changes(info: dict[str, Any], count: int, rng: random.Random) -> dict[str, int]:
    """``count`` changes of every kind an administrator makes, through Graph."""
    done: dict[str, int] = {}
    with httpx.Client(
        base_url=info["graph_url"],
        verify=info["ca_file"],
        timeout=60,
        headers={"Authorization": f"Bearer {info['admin_token']}"},
    ) as graph:
        users = graph.get("/v1.0/users", params={"$select": "id", "$top": 999}).json()["value"]
        groups = graph.get("/v1.0/groups", params={"$select": "id", "$top": 999}).json()["value"]
        user_ids = [u["id"] for u in users]
        group_ids = [g["id"] for g in groups]
        rng.shuffle(user_ids)
        kinds = (
            ["update"] * 40
            + ["create"] * 20
            + ["disable"] * 10
            + ["delete"] * 5
            + ["member+"] * 13
            + ["member-"] * 8
            + ["group+"] * 2
            + ["group-"] * 2
        )
        for n, kind in enumerate(kinds[:count]):
            user = user_ids[n]
            if kind == "update":
                response = graph.patch(
                    f"/v1.0/users/{user}",
                    json={"department": f"Dept {rng.randint(1, 50)}", "jobTitle": "Changed"},
                )
            elif kind == "create":
                response = graph.post(
                    "/v1.0/users",
                    json={
                        "accountEnabled": True,
                        "displayName": f"Bench {n}",
                        "mailNickname": f"bench{n}",
                        "userPrincipalName": f"bench.{n}.{uuid.uuid4().hex[:6]}@contoso.example",
                        "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"},
                    },
                )
            elif kind == "disable":
                response = graph.patch(f"/v1.0/users/{user}", json={"accountEnabled": False})
            elif kind == "delete":
                response = graph.delete(f"/v1.0/users/{user}")
            elif kind == "group+":
                response = graph.post(
                    "/v1.0/groups",
                    json={
                        "displayName": f"Bench group {n} {uuid.uuid4().hex[:6]}",
                        "mailEnabled": False,
                        "mailNickname": f"benchgroup{n}",
                        "securityEnabled": True,
                        "members@odata.bind": [
                            f"https://graph.microsoft.com/v1.0/directoryObjects/{user}"
                        ],
                    },
                )
            elif kind == "group-":
                # A group and its memberships, as a deletion in the directory removes them.
                response = graph.delete(f"/v1.0/groups/{group_ids.pop()}")
            elif kind == "member+":
                ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user}"}
                response = graph.post(
                    f"/v1.0/groups/{rng.choice(group_ids)}/members/$ref", json=ref
                )
            else:
                group = rng.choice(group_ids)
                members = graph.get(
                    f"/v1.0/groups/{group}/members", params={"$select": "id", "$top": 5}
                ).json()["value"]
                if not members:
                    continue
                response = graph.delete(f"/v1.0/groups/{group}/members/{members[0]['id']}/$ref")
            if response.status_code >= 300 and response.status_code != 400:
                raise RuntimeError(f"{kind}: {response.status_code} {response.text}")
            done[kind] = done.get(kind, 0) + 1
    return done


SCHEMAS: list[str] = []
"""PostgreSQL schemas this run made (dropped when each size is done)."""


def drop_schema(args: argparse.Namespace) -> None:
    while SCHEMAS:
        engine = sa.create_engine(args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMAS.pop()}" CASCADE')
        engine.dispose()


def database_url(backend: str, workdir: Path, pg_url: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'idsync.db'}"
    schema = f"idsync_bench_{uuid.uuid4().hex[:8]}"
    SCHEMAS.append(schema)
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    return f"{pg_url}?options=-csearch_path%3D{schema}"


@dataclass
class Directory:
    """A seeded emulator, and a fresh hub with an organisation connected to it."""

    env: dict[str, str]
    integration_id: str
    info: dict[str, Any]
    workdir: Path
    seed_seconds: float


@contextmanager
def directory(
    users: int, groups: int, args: argparse.Namespace, src: Path | None = None
) -> Iterator[Directory]:
    """With ``src``, every idsync command runs that code instead of this checkout's."""
    workdir = Path(tempfile.mkdtemp(prefix="idsync-bench-sync-"))
    print(f"== {users:,} users, {groups:,} groups (work dir {workdir})", flush=True)
    process, info, seed_seconds = start_emulator(users, groups, workdir)
    try:
        env = {
            **os.environ,
            "IDSYNC_DATABASE_URL": database_url(args.backend, workdir, args.pg_url),
            "IDSYNC_SECRET_KEY": Fernet.generate_key().decode(),
            "IDSYNC_LOG_LEVEL": "warning",
        }
        if src is not None:
            env["PYTHONPATH"] = str(src.resolve())
        org = idsync(env, "org", "create", f"Bench {users}")
        secret = workdir / "client-secret"
        secret.write_text(info["client_secret"])
        integration = idsync(
            env,
            "integration",
            "add",
            "entra",
            "--org",
            org["id"],
            "--tenant-id",
            info["tenant_id"],
            "--client-id",
            info["client_id"],
            "--client-secret-file",
            str(secret),
            "--authority",
            info["url"],
            "--graph-url",
            info["graph_url"],
            "--ca-file",
            info["ca_file"],
            "--no-auto-sync",
            "--deletion-threshold",
            "0",
        )
        yield Directory(env, integration["id"], info, workdir, seed_seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop_schema(args)
        if not args.keep:  # a 100k-user run leaves 1.3 GB, a million-user one 13 GB
            shutil.rmtree(workdir, ignore_errors=True)


def measure(users: int, groups: int, args: argparse.Namespace) -> SizeResult:
    with directory(users, groups, args) as d:
        initial = initial_cycle(d)
        storage_floor = measure_floor(args, d.env, d.workdir)
        print(f"   floor: {storage_floor.seconds:.1f} s for {storage_floor.rows}", flush=True)
        changes = make_changes(d.info, args.changes, random.Random(7))
        incremental = timed_sync(d.env, d.integration_id)
        print(
            f"   incremental: {incremental.wall:.2f} s, peak {incremental.peak_mb:.0f} MB, {incremental.summary['seconds']}",
            flush=True,
        )
        memberships = int(initial.summary["counts"].get("membersAdded", 0))
        return SizeResult(
            users, groups, memberships, d.seed_seconds, initial, incremental, changes, storage_floor
        )


def initial_cycle(d: Directory) -> Run:
    initial = timed_sync(d.env, d.integration_id)
    print(
        f"   initial: {initial.wall:.1f} s, peak {initial.peak_mb:.0f} MB, {initial.summary['seconds']}",
        flush=True,
    )
    return initial


@dataclass
class Turns:
    """One size's initial cycles, this checkout's and the baseline's, in the order run."""

    users: int
    groups: int
    current: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)


def take_turns(users: int, groups: int, args: argparse.Namespace) -> Turns:
    """Each side ``args.repeat`` times, alternately, the side going first changing each
    round (neither always meets a machine warmed, or worn, by the other)."""
    turns = Turns(users, groups)
    for round_ in range(args.repeat):
        sides = [("baseline", args.baseline_src), ("current", None)]
        for side, src in sides if round_ % 2 == 0 else reversed(sides):
            print(f"-- {side}", flush=True)
            with directory(users, groups, args, src) as d:
                getattr(turns, side).append(initial_cycle(d).cycle)
    return turns


def measure_floor(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> floor.Floor:
    """The storage floor for the rows the initial cycle wrote (see floor.py)."""
    if args.backend == "sqlite":
        return floor.sqlite_floor(workdir / "idsync.db", workdir / "floor.db")
    schema = env["IDSYNC_DATABASE_URL"].rsplit("%3D", 1)[1]
    return floor.postgres_floor(args.pg_url, schema, workdir)


def repeats(result: SizeResult) -> str:
    if not result.cycles:
        return ""
    each = ", ".join(f"{c:.1f}" for c in result.cycles)
    return f"; the median of {len(result.cycles)} runs, in order: {each} s"


def commit_of(folder: Path) -> str:
    """The commit checked out where ``folder`` is, or "" outside a git checkout."""
    return subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
    ).stdout.strip()


def header(title: str, args: argparse.Namespace, wall: float) -> list[str]:
    cores = os.cpu_count()
    return [
        f"# {title}",
        "",
        "Generated by `benchmarks/bench_sync.py` — do not edit by hand: rerun it.",
        "",
        f"- **Date:** {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"- **Command:** `python benchmarks/bench_sync.py{mode_flag(args)} --backend {args.backend}`",
        f"- **Machine:** {cores} cores ({cpu_model()}), {memory_total()} RAM, Linux {platform.release()}; "
        f"Python {platform.python_version()}; idsync commit {commit_of(HERE)}",
        f"- **Database:** {args.backend}{server_settings(args)}; the emulator runs on the same machine (its CPU time is part of every figure)",
        f"- **Wall time:** {wall / 60:.1f} min in all",
        "",
    ]


def turns_markdown(results: list[Turns], args: argparse.Namespace, wall: float) -> str:
    baseline = commit_of(args.baseline_src)
    named = f"commit {baseline}" if baseline else f"`{args.baseline_src}`"
    lines = header(f"Directory sync on {args.backend}: this commit against {named}", args, wall)
    lines += [
        f"The initial cycle of each directory, with this checkout's code and with {named}'s "
        f"(`--baseline-src {args.baseline_src}`), {args.repeat} time(s) each, taking turns; "
        "each run with its own emulator and hub. Each figure is the cycle's time inside the "
        "syncing process (its summary's `seconds.cycle`).",
        "",
        "| directory | baseline, in order | this commit, in order | baseline ÷ this commit (medians) |",
        "|---|---|---|---|",
    ]
    for t in results:
        before, after = statistics.median(t.baseline), statistics.median(t.current)
        lines.append(
            f"| {t.users:,} users, {t.groups:,} groups | {', '.join(f'{c:.1f}' for c in t.baseline)} s | "
            f"{', '.join(f'{c:.1f}' for c in t.current)} s | {before / after:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def markdown(results: list[SizeResult], args: argparse.Namespace, wall: float) -> str:
    big, small = results[-1], results[0]
    lines = [
        *header(f"Directory sync: Entra ID (emulator) → hub, on {args.backend}", args, wall),
        "| directory | initial cycle | objects/s | peak memory | read / diff / write s | incremental cycle (changes) | incremental wall | incremental peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        objects = r.users + r.groups
        s = r.initial.summary["seconds"]
        lines.append(
            f"| {r.users:,} users, {r.groups:,} groups, {r.memberships:,} memberships | {r.initial.wall:.1f} s | "
            f"{objects / r.initial.wall:,.0f} | {r.initial.peak_mb:.0f} MB | {s['read']:.1f} / {s['diff']:.1f} / {s['write']:.1f} | "
            f"{r.incremental.cycle:.2f} s ({sum(r.changes.values())}) | {r.incremental.wall:.2f} s | {r.incremental.peak_mb:.0f} MB |"
        )
    entra_low, entra_high = (
        (big.users + big.groups) * ENTRA_MINUTES_PER_OBJECT[0],
        (big.users + big.groups) * ENTRA_MINUTES_PER_OBJECT[1],
    )
    growth = big.incremental.cycle / small.incremental.cycle
    goal = MILLION_GOAL_SECONDS if args.million else INITIAL_GOAL_SECONDS[args.backend]
    peak_goal = MILLION_PEAK_GOAL_MB if args.million else PEAK_GOAL_MB
    peak = max(r.initial.peak_mb for r in results)
    growth_rows = (
        [
            f"| incremental: {big.users:,} ÷ {small.users:,} users | {growth:.2f}x | ≤ 1.5x | {'met' if growth <= 1.5 else 'NOT MET'} |"
        ]
        if len(results) > 1
        else []
    )
    floor_s = big.storage_floor.seconds
    lines += [
        "",
        "## The storage floor",
        "",
        "The rows each initial cycle left (users, groups, memberships, links, provisioning log) "
        f"written again by the raw driver the fastest way {args.backend} offers "
        f"({'executemany in one transaction' if args.backend == 'sqlite' else 'COPY'}), into "
        "empty tables with the same columns and indexes (no foreign keys), in the same run "
        "(see `benchmarks/floor.py`):",
        "",
        "| directory | floor | idsync's write phase ÷ floor | idsync's initial cycle ÷ floor |",
        "|---|---|---|---|",
        *(
            f"| {r.users:,} users | {r.storage_floor.seconds:.1f} s | "
            f"{r.initial.summary['seconds']['write'] / r.storage_floor.seconds:.2f}x | "
            f"{r.initial.cycle / r.storage_floor.seconds:.2f}x |"
            for r in results
            if r.storage_floor.seconds
        ),
        "",
        "## Targets",
        "",
        "| target | measured | goal | verdict |",
        "|---|---|---|---|",
        f"| initial cycle, {big.users:,} users / {big.groups:,} groups | {big.initial.cycle:.1f} s (wall with process start: {big.initial.wall:.1f} s){repeats(big)} | < {goal} s | {'met' if big.initial.cycle < goal else 'NOT MET'} |",
        f"| the same ÷ the storage floor | {big.initial.cycle / floor_s if floor_s else 0:.2f}x | (reported) | — |",
        f"| incremental cycle, {sum(big.changes.values())} changes | {big.incremental.cycle:.2f} s (wall with process start: {big.incremental.wall:.2f} s) | < 2 s | {'met' if big.incremental.cycle < 2 else 'NOT MET'} |",
        *growth_rows,
        f"| peak memory of the syncing process | {peak:.0f} MB | < {peak_goal} MB | {'met' if peak < peak_goal else 'NOT MET'} |",
        "",
        f"Against Entra's documented initial-cycle time for {big.users + big.groups:,} objects "
        f"({entra_low:,.0f}–{entra_high:,.0f} minutes): {entra_low * 60 / big.initial.wall:,.0f}x–{entra_high * 60 / big.initial.wall:,.0f}x faster.",
        "",
        "*Cycle* is the time the cycle took inside the syncing process (its summary's `seconds.cycle`), "
        "as when `idsync serve`'s scheduler runs it; *wall* adds starting a fresh `idsync sync run` "
        f"process ({big.incremental.wall - big.incremental.cycle:.1f} s in the incremental run: "
        "Python's imports, opening the database and the job, the same at every directory size).",
        "",
        "## Where the time goes (initial cycle of the largest directory)",
        "",
        f"- read: waiting for Graph delta pages the read-ahead had not delivered yet (the next page is read while the current one is written): {big.initial.summary['seconds']['read']:.1f} s",
        f"- diff (mapping, scoping, link and match lookups): {big.initial.summary['seconds']['diff']:.1f} s",
        f"- write: {big.initial.summary['seconds']['write']:.1f} s, of which users and groups "
        f"{big.initial.summary['seconds'].get('writeObjects', 0):.1f} s, memberships "
        f"{big.initial.summary['seconds'].get('writeMembers', 0):.1f} s, links and provisioning log "
        f"{big.initial.summary['seconds'].get('writeState', 0):.1f} s, checkpoints "
        f"{big.initial.summary['seconds'].get('writeCheckpoint', 0):.1f} s, preparing and "
        "finishing each phase (rebuilding the index of memberships by user a first "
        f"load deferred) {big.initial.summary['seconds'].get('writePhase', 0):.1f} s",
        f"- the rest of the cycle ({big.initial.cycle - sum(big.initial.summary['seconds'][k] for k in ('read', 'diff', 'write')):.1f} s): "
        "resolving managers and nested groups after each phase, removals, finishing the job; "
        f"and {big.initial.wall - big.initial.cycle:.1f} s starting the process",
        "",
        f"- of the write phase, committing the transactions (up to a second of pages each): "
        f"{big.initial.summary['seconds'].get('writeCommit', 0):.1f} s",
        "",
        f"Counts of the initial cycle: `{json.dumps(big.initial.summary['counts'], sort_keys=True)}`",
        "",
        f"Counts of the incremental cycle: `{json.dumps(big.incremental.summary['counts'], sort_keys=True)}`",
    ]
    return "\n".join(lines) + "\n"


DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

SERVER_SETTINGS = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression")
"""What decides PostgreSQL's cost for a first load of millions of rows (its buffer
cache, and how often checkpoints make every changed index page go to the WAL whole)."""


def server_settings(args: argparse.Namespace) -> str:
    if args.backend != "postgresql":
        return ""
    engine = sa.create_engine(args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        shown = [
            f"{name} {conn.exec_driver_sql(f'SHOW {name}').scalar()}" for name in SERVER_SETTINGS
        ]
        provider, collate, icu = conn.exec_driver_sql(
            "SELECT datlocprovider, datcollate, daticulocale FROM pg_database "
            "WHERE datname = current_database()"
        ).one()
    engine.dispose()
    # The default collation decides what comparing text costs (ids compare bytewise).
    collation = f"{icu} (ICU)" if provider == "i" else collate
    return f" (server: {', '.join(shown)}; database collation {collation})"


def mode_flag(args: argparse.Namespace) -> str:
    mode = " --million" if args.million else " --quick" if args.quick else ""
    if args.sizes:
        mode = f" --sizes {args.sizes}"
    if args.baseline_src:
        mode += f" --baseline-src {args.baseline_src}"
    if args.backend == "postgresql" and args.pg_url != DEFAULT_PG_URL:
        mode += f" --pg-url {args.pg_url}"
    return mode + (f" --repeat {args.repeat}" if args.repeat > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="2k and 10k users instead of 10k and 100k"
    )
    parser.add_argument(
        "--million", action="store_true", help="1,000,000 users and 100,000 groups, alone"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep each size's work dir (databases, logs)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each size this many times and report the median run (all listed)",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--sizes", help="users:groups,… to measure instead (results go to out/)")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another checkout's src: its initial cycles and this checkout's, taking turns",
    )
    args = parser.parse_args()
    quick = args.quick
    sizes = [(2_000, 200), (10_000, 1_000)] if args.quick else [(10_000, 1_000), (100_000, 10_000)]
    if args.million:
        sizes = [MILLION]
    if args.sizes:
        sizes = [(int(u), int(g)) for u, g in (pair.split(":") for pair in args.sizes.split(","))]
        args.quick = True
    started = time.perf_counter()
    if args.baseline_src:
        turns = [take_turns(users, groups, args) for users, groups in sizes]
        text = turns_markdown(turns, args, time.perf_counter() - started)
        # Chosen sizes are recorded too: comparing at one size is the usual run.
        target = HERE / "out" / "RESULTS-sync-baseline.md" if quick else HERE / "RESULTS.md"
        target.parent.mkdir(exist_ok=True)
        # Another database (another collation, say) gets a section of its own.
        other = args.backend == "postgresql" and args.pg_url != DEFAULT_PG_URL
        database = "-" + args.pg_url.rsplit("/", 1)[-1].split("?")[0] if other else ""
        write_section(target, f"sync-{args.backend}-baseline{database}", text)
        print(text)
        return
    results = [
        median_run([measure(users, groups, args) for _ in range(args.repeat)])
        for users, groups in sizes
    ]
    text = markdown(results, args, time.perf_counter() - started)
    target = HERE / "out" / "RESULTS-sync-quick.md" if args.quick else HERE / "RESULTS.md"
    target.parent.mkdir(exist_ok=True)
    write_section(target, f"sync-{args.backend}{'-1m' if args.million else ''}", text)
    print(text)


if __name__ == "__main__":
    main()
