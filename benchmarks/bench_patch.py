"""Benchmark: the cost of one PATCH of n value-filtered operations grows linearly with n.

Issue 9 item 22: a user with n emails and one PATCH of n operations, each selecting one
email by its value (``emails[value eq "eN@example.com"].type``), cost O(n²): n=400 took
~17 s inside one write transaction, during which ``/healthz`` did not answer on SQLite
and, with two workers, other writes failed with "database is locked".

For n = 100, 400 and 1,600 (by default) this starts a real ``idsync serve --workers 2``,
creates such a user, sends the PATCH, and reports side by side: the PATCH's time (client
and server side), the work the server counted (values read, filters compiled; the request
log line's ``work``), and, measured while the PATCH runs, the slowest ``GET /healthz`` and
the slowest ``POST /Users`` of a third client writing all along, with its failures. Time
that grows linearly gives a ratio of ~4 from one size to the next (quadratic: 16).

    python benchmarks/bench_patch.py [--backend sqlite|postgresql] [--sizes 100,400,1600]
                                     [--repeat 3] [--results PATH] [--baseline-src DIR]

``--baseline-src DIR`` runs the server from another checkout's ``src`` (e.g. the commit
before the fix: ``git archive 1be2f7e src | tar -x -C /tmp/before``), for comparison;
its results go to their own section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results import write_section  # noqa: E402

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Server:
    url: str
    token: str
    org_id: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/scim/{self.org_id}/v2",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=600,
        )

    def log_line(self, tracking_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if tracking_id in line:
                    record: dict[str, Any] = json.loads(line)
                    return record
            time.sleep(0.05)
        raise RuntimeError(f"no log line for {tracking_id}")


@dataclass
class Sample:
    n: int
    client_ms: float
    server_ms: float
    work: dict[str, int]
    healthz_max_ms: float
    posts: int
    post_max_ms: float
    post_failures: int


@dataclass
class Background:
    """What two other clients saw while the PATCH ran: one checks health, one creates users."""

    healthz_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    post_failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def idsync(database_url: str, env: dict[str, str] | None, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "idsync", *args, "--json", "--database", database_url],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"idsync {' '.join(args)}: {result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    schema = f"idsync_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


@contextmanager
def serve(database_url: str, workdir: Path, source: Path | None) -> Iterator[Server]:
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    org = idsync(database_url, env, "org", "create", f"bench {uuid.uuid4().hex[:6]}")
    token = idsync(database_url, env, "token", "create", "--org", org["id"])
    port = free_port()
    log_path = workdir / "serve.log"
    command = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "idsync", *command, "--database", database_url],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    server = Server(f"http://127.0.0.1:{port}", token["token"], org["id"], process, log_path)
    try:
        wait_until_ready(server)
        yield server
    finally:
        # The process group this harness started, and only it.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"idsync serve exited:\n{server.log_path.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("idsync serve did not become ready")


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = call()
    return response, (time.perf_counter() - started) * 1000


def poll_health(server: Server, seen: Background) -> None:
    with httpx.Client(timeout=600) as plain:
        while not seen.stop.is_set():
            _, elapsed = timed(lambda: plain.get(f"{server.url}/healthz"))
            seen.healthz_ms.append(elapsed)
            time.sleep(0.02)


def keep_writing(server: Server, seen: Background) -> None:
    with server.client() as scim:
        while not seen.stop.is_set():
            body = {"schemas": [USER], "userName": f"w{uuid.uuid4().hex}@example.com"}
            response, elapsed = timed(lambda body=body: scim.post("/Users", json=body))
            seen.post_ms.append(elapsed)
            if response.status_code != 201:
                seen.post_failures += 1
            time.sleep(0.02)


def one_patch(server: Server, n: int) -> Sample:
    emails = [{"value": f"e{i}@example.com", "type": "work"} for i in range(n)]
    operations = [
        {"op": "replace", "path": f'emails[value eq "e{i}@example.com"].type', "value": "home"}
        for i in range(n)
    ]
    with server.client() as scim:
        body = {"schemas": [USER], "userName": f"u{uuid.uuid4().hex}@example.com"}
        created = scim.post("/Users", json={**body, "emails": emails})
        created.raise_for_status()
        seen = Background()
        watchers = [
            threading.Thread(target=watch, args=(server, seen))
            for watch in (poll_health, keep_writing)
        ]
        for watcher in watchers:
            watcher.start()
        time.sleep(0.2)  # the others are at work before the PATCH starts
        try:
            response, client_ms = timed(
                lambda: scim.patch(
                    f"/Users/{created.json()['id']}",
                    json={"schemas": [PATCH_OP], "Operations": operations},
                )
            )
        finally:
            seen.stop.set()
            for watcher in watchers:
                watcher.join()
    if response.status_code != 200:
        raise RuntimeError(f"PATCH n={n}: {response.status_code} {response.text[:300]}")
    if {e["type"] for e in response.json()["emails"]} != {"home"}:
        raise RuntimeError(f"PATCH n={n} did not change every email")
    line = server.log_line(response.headers["x-tracking-id"])
    return Sample(
        n=n,
        client_ms=client_ms,
        server_ms=float(line["duration_ms"]),
        work=line.get("work", {}),  # a baseline before the fix counts nothing
        healthz_max_ms=max(seen.healthz_ms),
        posts=len(seen.post_ms),
        post_max_ms=max(seen.post_ms),
        post_failures=seen.post_failures,
    )


def median_sample(samples: list[Sample]) -> Sample:
    ordered = sorted(samples, key=lambda s: s.client_ms)
    middle = ordered[len(ordered) // 2]
    return Sample(
        n=middle.n,
        client_ms=statistics.median(s.client_ms for s in samples),
        server_ms=statistics.median(s.server_ms for s in samples),
        work=middle.work,
        healthz_max_ms=max(s.healthz_max_ms for s in samples),
        posts=sum(s.posts for s in samples),
        post_max_ms=max(s.post_max_ms for s in samples),
        post_failures=sum(s.post_failures for s in samples),
    )


def report(rows: list[Sample], command: str, backend: str, repeat: int, source: Path | None) -> str:
    ran = (
        f"the idsync in `{source}` (a checkout made as benchmarks/README.md shows)"
        if source
        else f"idsync at commit {commit()}"
    )
    lines = [
        "## PATCH of n value-filtered operations (issue 9 item 22)"
        + (" — baseline" if source else ""),
        "",
        f"`{command}` — `idsync serve --workers 2` on {backend}; a user with n emails, then "
        f'one PATCH of n operations `emails[value eq "eN@example.com"].type` (median of '
        f"{repeat}). While each PATCH runs, one other client polls `GET /healthz` and another "
        "creates users (`POST /Users`), each every 20 ms. Before the fix, n=400 took ~17 s and "
        f"blocked both. Server: {ran}. "
        f"{platform.machine()}, {os.cpu_count()} cores (shared with other work), "
        f"Python {platform.python_version()}.",
        "",
        "| n | PATCH ms (client) | ms (server) | × previous n | values read | filters compiled"
        " | slowest /healthz ms | slowest POST ms (of) | POST failures |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous: Sample | None = None
    for row in rows:
        ratio = f"{row.client_ms / previous.client_ms:.1f}x" if previous else "—"
        lines.append(
            f"| {row.n:,} | {row.client_ms:,.0f} | {row.server_ms:,.0f} | {ratio} "
            f"| {count(row, 'values_examined')} | {count(row, 'filters_compiled')} "
            f"| {row.healthz_max_ms:,.0f} | {row.post_max_ms:,.0f} ({row.posts}) "
            f"| {row.post_failures} |"
        )
        previous = row
    first, last = rows[0], rows[-1]
    growth = last.n / first.n
    lines += [
        "",
        f"From n={first.n:,} to n={last.n:,} ({growth:.0f}x the operations on {growth:.0f}x "
        f"the values) the PATCH took {last.client_ms / first.client_ms:.1f}x as long "
        f"(linear: {growth:.0f}x; quadratic: {growth * growth:.0f}x).",
    ]
    return "\n".join(lines)


def count(row: Sample, name: str) -> str:
    return f"{row.work[name]:,}" if name in row.work else "—"


def commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(HERE), "status", "--porcelain", "--", "../src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return result.stdout.strip() + (" (with uncommitted changes in src/)" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="100,400,1600")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--baseline-src", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    command = "python benchmarks/bench_patch.py " + " ".join(sys.argv[1:])
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.backend, Path(tmp)) as url,
        serve(url, Path(tmp), args.baseline_src) as server,
    ):
        one_patch(server, sizes[0])  # warm-up: imports, caches, connections
        rows = []
        for n in sizes:
            rows.append(median_sample([one_patch(server, n) for _ in range(args.repeat)]))
            print(rows[-1], flush=True)
    markdown = report(rows, command.strip(), args.backend, args.repeat, args.baseline_src)
    print(markdown)
    suffix = "-baseline" if args.baseline_src else ""
    write_section(args.results, f"patch-{args.backend}{suffix}", markdown)


if __name__ == "__main__":
    main()
