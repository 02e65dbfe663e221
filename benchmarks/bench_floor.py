"""The floors under issue 12's API targets, measured beside idsync and the peer.

Target 5 asks, with two idsync workers, for a filtered GET at least 10x scim2-server's on
PostgreSQL, and with one worker, for a filtered GET within 2x of a bare Starlette app
answering a fixed list (``ceiling.py``). This run loads 11,000 users into idsync (a fresh
PostgreSQL schema or SQLite file) and into the peer, then measures
``GET /Users?filter=userName eq "…"`` with wrk on:

- idsync, ``idsync serve --workers N``;
- ``floor_db.py`` (N uvicorn workers): the same lookup statement on the same database
  with nothing else a SCIM server does, its lookup on the event loop (as idsync runs it);
- on PostgreSQL, the same floor with its lookup in Starlette's thread pool, as idsync
  runs every other PostgreSQL request: what running the lookup on the loop gains;
- with one worker, the ceiling (``ceiling.py``, no database);
- scim2-server.

It prints and records (section ``api-floor-postgresql`` of RESULTS.md for PostgreSQL with
two workers, ``api-floor-{backend}-{N}w`` otherwise) each one's rate and the ratios to the
peer and from the ceiling: what the machine allows for the target, and how close idsync is.

    python benchmarks/bench_floor.py
    python benchmarks/bench_floor.py --backend sqlite --workers 1
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from bench_scim import (
    HERE,
    WORKLOADS,
    Plan,
    RunResult,
    Server,
    Wrk,
    errors_cell,
    fmt_ms,
    fmt_ratio,
    fmt_rps,
    free_port,
    load_users,
    machine_info,
    md_table,
    measure,
    postgres_schema,
    read_bulk_limits,
    start_ceiling,
    start_idsync,
    start_peer,
    start_process,
    stop,
    stop_all,
    wait_idle,
)
from results import write_section

FILTER = next(w for w in WORKLOADS if w.key == "filter_small")


def start_floor(
    plan: Plan, database_url: str, idsync: Server, workdir: Path, *, threads: bool
) -> Server:
    name = "floor-threads" if threads else "floor-loop"
    port = free_port()
    os.environ.update(
        FLOOR_DATABASE_URL=database_url,
        FLOOR_ORG=idsync.base_path.split("/")[2],
        FLOOR_TOKEN=idsync.token,
        FLOOR_THREADS="1" if threads else "0",
    )
    return start_process(
        name,
        [
            sys.executable, "-m", "uvicorn", "floor_db:app", "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(plan.workers),
            "--log-level", "warning", "--no-access-log",
        ],
        port,
        workdir,
        base_path=idsync.base_path,
        ready_path="/healthz",
        token=idsync.token,
        load_concurrency=1,
    )  # fmt: skip


def run(plan: Plan) -> tuple[list[RunResult], float]:
    started = time.monotonic()
    results: list[RunResult] = []
    workdir = Path(tempfile.mkdtemp(prefix="idsync-floor-"))
    servers: list[Server] = []
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        if plan.backend == "postgresql":
            database_url = stack.enter_context(postgres_schema(plan.pg_url))
        else:
            database_url = f"sqlite:///{workdir / 'floor.db'}"
        stack.callback(stop_all, servers)
        idsync = start_idsync(plan, database_url, workdir)
        servers += [idsync, start_peer(workdir)]
        for server in servers:
            read_bulk_limits(server)
            load_users(server, range(plan.small_total))
            wait_idle(server)
        wrk = Wrk(plan, workdir, "floor")
        # idsync runs a SQLite lookup on the event loop: no thread-pool floor there.
        for threads in (False, True) if plan.backend == "postgresql" else (False,):
            floor = start_floor(plan, database_url, idsync, workdir, threads=threads)
            servers.append(floor)
            results.append(measure(wrk, FILTER, floor, plan.small_total, plan))
            stop(servers.pop())
        if plan.workers == 1:
            servers.append(start_ceiling(workdir))
            results.append(measure(wrk, FILTER, servers[-1], plan.small_total, plan))
            stop(servers.pop())
        for server in servers:
            results.append(measure(wrk, FILTER, server, plan.small_total, plan))
    return results, time.monotonic() - started


def report(plan: Plan, results: list[RunResult], seconds: float, command: str) -> str:
    m = machine_info(plan)
    peer = next(r for r in results if r.server == "scim2-server")
    ceiling = next((r for r in results if r.server == "ceiling"), None)
    database = "PostgreSQL" if plan.backend == "postgresql" else "SQLite"
    labels = {
        "floor-loop": "floor, lookup on the event loop",
        "floor-threads": "floor, lookup in the thread pool",
        "idsync": f"idsync (`idsync serve --workers {plan.workers}`)",
        "ceiling": "ceiling (bare Starlette, no database)",
    }
    header = ["server", "req/s", "p50 / p99 ms", "non-2xx / socket err", "÷ peer"]
    rows = []
    for r in results:
        row = [
            labels.get(r.server, r.server), fmt_rps(r.rps), f"{fmt_ms(r.p50_ms)} / {fmt_ms(r.p99_ms)}",
            errors_cell(r), fmt_ratio(r.rps / peer.rps),
        ]  # fmt: skip
        if ceiling is not None:
            row.append(fmt_ratio(ceiling.rps / r.rps))
        rows.append(row)
    if ceiling is not None:
        header.append("ceiling ÷")
    software = (
        f"PostgreSQL {m['postgresql']}" if plan.backend == "postgresql" else f"SQLite {m['sqlite']}"
    )
    connection = (
        "a psycopg pool" if plan.backend == "postgresql" else "one sqlite3 connection a worker"
    )
    return "\n".join(
        [
            f"# The floor under the {database} API target, {plan.workers} "
            f"worker{'s' if plan.workers > 1 else ''} (issue 12, target 5)",
            "",
            "Generated by `benchmarks/bench_floor.py`. Do not edit by hand: rerun it.",
            "",
            f"- **Date:** {m['date']}",
            f"- **Command:** `{command}`",
            f"- **Machine:** {m['nproc']} cores ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}",
            f"- **Software:** Python {m['python']}, {software}, {m['wrk']}, "
            f"idsync {m['idsync']}, scim2-server {m['scim2-server']}",
            f"- **Data:** {plan.small_total:,} users in idsync ({database}, a fresh "
            f"{'schema' if plan.backend == 'postgresql' else 'file'}) and in the peer; every "
            "server answers the same wrk script "
            f'(`GET /Users?filter=userName eq "…"`, {plan.connections} connections, '
            f"{plan.duration} s after a {plan.warmup} s warm-up)",
            f"- **Floor:** `benchmarks/floor_db.py`, {plan.workers} uvicorn "
            f"worker{'s' if plan.workers > 1 else ''}: the token's SHA-256 checked against "
            f"memory, idsync's own lookup statement on {connection}, the document written by "
            "orjson; nothing else",
            f"- **Wall time:** {seconds / 60:.1f} min",
            "",
            md_table(header, rows),
            "",
            _reading(plan),
        ]
    )


def _reading(plan: Plan) -> str:
    if plan.workers == 1:
        return (
            "The target is the ceiling's rate ÷ idsync's ≤ 2x with one worker (the `ceiling ÷` "
            "column). The floor's figure there is what the lookup alone costs a Python "
            "server on this machine (the database, the worker and wrk share its cores): "
            "no server that looks the user up can come closer to the ceiling than it."
        )
    return (
        f"The target is idsync ÷ peer ≥ 10x with {plan.workers} workers. The floor's ratio "
        "is about the most a Python server doing this lookup reaches on this machine (the "
        "database, the workers and wrk share its cores)"
        + (
            "; the thread-pool floor is what the same server reaches with its lookup in a "
            "thread, as idsync runs every PostgreSQL request but a lookup of one user."
            if plan.backend == "postgresql"
            else "."
        )
    )


def section_name(plan: Plan) -> str:
    if plan.backend == "postgresql" and plan.workers == 2:
        return "api-floor-postgresql"  # the first section this wrote keeps its name
    return f"api-floor-{plan.backend}-{plan.workers}w"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    args = parser.parse_args(argv)
    plan = Plan(
        small=10_000, large=10_001, pool=1_000, duration=args.duration, warmup=2,
        connections=8, timeout=120, workers=args.workers, backend=args.backend,
        pg_url=args.pg_url, quick=False,
    )  # fmt: skip
    results, seconds = run(plan)
    command = shlex.join(["python", "benchmarks/bench_floor.py", *argv])
    markdown = report(plan, results, seconds, command)
    print(markdown)
    write_section(HERE / "RESULTS.md", section_name(plan), markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
