"""Benchmark idsync against scim2-server (PyPI), side by side, with wrk.

One run starts both servers, loads the same users and groups into both through
the same client code (SCIM /Bulk and chunked PATCHes), then drives both with
the same wrk Lua scripts, one server at a time, and prints a table of
throughput, latency percentiles, errors, idsync/peer ratios and the growth of
each figure from the small tenant (10k users) to the large one (100k users).

    python benchmarks/bench_scim.py [--quick] [--workers N] [--backend sqlite|postgresql]
                                    [--duration S] [--connections C]

See benchmarks/README.md for what each workload means.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results import cpu_model, memory_total, write_section  # noqa: E402

OUT_DIR = HERE / "out"
RESULTS_MD = HERE / "RESULTS.md"

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MEDIA_TYPE = "application/scim+json"

MEMBER_CHUNK = 1000
"""Members added per PATCH while loading groups (the brief's limit)."""

IDLE_CPU_FRACTION = 0.05
"""A server whose processes use less CPU than this (of one core) is idle."""


class BenchError(RuntimeError):
    """Something in the set-up failed; the message says what and shows the exchange."""


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    small: int
    """Users in the small tenant, and members of group A."""
    large: int
    """Members of group B; the large tenant holds ``large + pool`` users."""
    pool: int
    """Users in neither group: the PATCH workloads add and remove them."""
    duration: int
    warmup: int
    connections: int
    timeout: int
    workers: int
    backend: str
    pg_url: str
    quick: bool
    huge: int = 0
    """Users the tenant grows to last (0: no such phase), for idsync alone (see seed_huge)."""

    @property
    def small_total(self) -> int:
        return self.small + self.pool

    @property
    def large_total(self) -> int:
        return self.large + self.pool


def parse_args(argv: Sequence[str] | None = None) -> tuple[Plan, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description="Benchmark idsync against scim2-server with wrk (see benchmarks/README.md)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="1k/5k users, 3 s per workload (smoke test)"
    )
    parser.add_argument("--workers", type=int, default=2, help="idsync worker processes")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database for --backend postgresql (a fresh schema is made in it)",
    )
    parser.add_argument("--duration", type=int, help="seconds per measured workload (30)")
    parser.add_argument(
        "--connections", type=int, default=8, help="wrk connections (one wrk thread each)"
    )
    parser.add_argument("--timeout", type=int, default=120, help="wrk request timeout, seconds")
    parser.add_argument("--small", type=int, help="users in the small tenant (10000)")
    parser.add_argument("--large", type=int, help="members of the large group (100000)")
    parser.add_argument("--pool", type=int, help="users outside both groups (1000)")
    parser.add_argument(
        "--huge",
        type=int,
        default=0,
        help="then grow the tenant to this many users (e.g. 1000000) with a file integration's "
        "sync cycle and measure idsync's filtered GET and one-member PATCH there (the peer is "
        "not loaded that far)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--results",
        type=Path,
        help="Markdown report to write (default: benchmarks/RESULTS.md, or "
        "benchmarks/out/RESULTS-quick.md with --quick)",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    plan = Plan(
        small=args.small or (1_000 if quick else 10_000),
        large=args.large or (5_000 if quick else 100_000),
        pool=args.pool or (200 if quick else 1_000),
        duration=args.duration or (3 if quick else 30),
        warmup=1 if quick else 2,
        connections=args.connections,
        timeout=args.timeout,
        workers=args.workers,
        backend=args.backend,
        pg_url=args.pg_url,
        quick=quick,
        huge=args.huge,
    )
    if plan.huge and plan.huge <= plan.large_total:
        parser.error("--huge must be greater than the large tenant (--large plus --pool)")
    if plan.large <= plan.small:
        parser.error("--large must be greater than --small")
    if plan.pool < plan.connections:
        parser.error("--pool must be at least --connections (each connection owns pool users)")
    if plan.connections < 1 or plan.workers < 1 or plan.duration < 1:
        parser.error("--connections, --workers and --duration must be positive")
    return plan, args


# --- the data both servers receive ----------------------------------------------------------


def user_name(index: int) -> str:
    return f"u{index:07d}"


def user_document(name: str) -> dict[str, Any]:
    """A user as loaded; the POST workload's Lua script builds the same shape."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "name": {"givenName": "Bench", "familyName": name},
        "displayName": name,
        "emails": [{"value": f"{name}@bench.example", "type": "work", "primary": True}],
        "active": True,
    }


def add_members(ids: Sequence[str]) -> dict[str, Any]:
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}],
    }


# --- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    root: str
    """``http://127.0.0.1:port``: what wrk connects to."""
    base_path: str
    """Where SCIM is served: ``/scim/{org}/v2`` or ``/v2``."""
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    load_concurrency: int
    """Bulk requests the loader keeps in flight."""
    bulk_max_operations: int = 1000
    bulk_max_payload: int = 1_048_576
    ids: dict[int, str] = field(default_factory=dict)
    """User index → SCIM id."""
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.root + self.base_path

    def client(self, timeout: float = 900.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": MEDIA_TYPE,
                "Content-Type": MEDIA_TYPE,
            },
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def ensure_running(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise BenchError(f"{self.name} exited with code {code}; log:\n{tail(self.log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(server: Server, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        server.ensure_running()
        try:
            response = httpx.get(
                url, headers={"Authorization": f"Bearer {server.token}"}, timeout=5.0
            )
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise BenchError(
        f"{server.name} not ready after {timeout:.0f} s ({last}):\n{tail(server.log_path)}"
    )


def stop(server: Server) -> None:
    """End the process group this harness started for the server (and only it)."""
    process = server.process
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def stop_all(servers: Sequence[Server]) -> None:
    for server in servers:
        stop(server)


def idsync_cli(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "idsync", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"idsync {' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def start_process(
    name: str,
    command: list[str],
    port: int,
    workdir: Path,
    *,
    base_path: str,
    ready_path: str,
    token: str,
    load_concurrency: int,
) -> Server:
    """Start ``command`` (listening on ``port``) in a session of its own, so that
    :func:`stop` ends it and all its workers, its output to ``workdir/{name}.log``;
    return once ``ready_path`` (from the root) answers 200."""
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    server = Server(
        name=name,
        root=f"http://127.0.0.1:{port}",
        base_path=base_path,
        token=token,
        process=process,
        log_path=log_path,
        load_concurrency=load_concurrency,
    )
    wait_until_ready(server, server.root + ready_path)
    return server


def start_idsync(plan: Plan, database_url: str, workdir: Path) -> Server:
    org = idsync_cli("org", "create", "bench", "--json", "--database", database_url)
    token = idsync_cli("token", "create", "--org", org["id"], "--json", "--database", database_url)
    port = free_port()
    return start_process(
        "idsync",
        [
            sys.executable, "-m", "idsync", "serve",
            "--host", "127.0.0.1", "--port", str(port),
            "--database", database_url,
            "--workers", str(plan.workers),
            "--log-level", "warning",
        ],
        port,
        workdir,
        base_path=f"/scim/{org['id']}/v2",
        ready_path="/healthz",
        token=token["token"],
        load_concurrency=plan.workers,
    )  # fmt: skip


def start_peer(workdir: Path) -> Server:
    executable = shutil.which("scim2-server", path=str(Path(sys.executable).parent))
    executable = executable or shutil.which("scim2-server")
    if executable is None:
        raise BenchError("scim2-server is not installed: pip install -e '.[bench]'")
    token = secrets.token_urlsafe(24)
    port = free_port()
    return start_process(
        "scim2-server",
        [executable, "--port", str(port), f"--bearer-token={token}"],
        port,
        workdir,
        base_path="/v2",
        ready_path="/v2/ServiceProviderConfig",
        token=token,
        # A threaded wsgiref server with a listen backlog of 5, behind one GIL.
        load_concurrency=1,
    )


def start_ceiling(workdir: Path) -> Server:
    """The bare Starlette app of ``ceiling.py`` under uvicorn, one worker."""
    port = free_port()
    return start_process(
        "ceiling",
        [
            sys.executable, "-m", "uvicorn", "ceiling:app", "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--log-level", "warning", "--no-access-log",
        ],
        port,
        workdir,
        base_path="/v2",
        ready_path="/v2/ServiceProviderConfig",
        token="unused",
        load_concurrency=1,
    )  # fmt: skip


def read_bulk_limits(server: Server) -> None:
    with server.client(30.0) as client:
        config = request(server, client, "GET", "/ServiceProviderConfig").json()
    bulk = config.get("bulk") or {}
    if not bulk.get("supported"):
        raise BenchError(f"{server.name} does not support /Bulk: {config}")
    server.bulk_max_operations = int(bulk.get("maxOperations") or 1000)
    server.bulk_max_payload = int(bulk.get("maxPayloadSize") or 1_048_576)


@contextmanager
def postgres_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database; idsync's URL selects it by search_path."""
    import psycopg

    schema = f"idsync_bench_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# --- the loading client (the same code for both servers) ------------------------------------


RETRIED = (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def request(
    server: Server,
    client: httpx.Client,
    method: str,
    path: str,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
    expect: tuple[int, ...] = (200,),
) -> httpx.Response:
    """One request, retried on connection resets (the peer's backlog is small)."""
    for attempt in range(8):
        try:
            response = client.request(
                method,
                path,
                content=None if body is None else json.dumps(body).encode(),
                params=params,
            )
        except RETRIED:
            if attempt == 7:
                raise
            time.sleep(0.1 * 2**attempt)
            continue
        if response.status_code not in expect:
            shown = json.dumps(body)[:300] if body is not None else ""
            raise BenchError(
                f"{server.name}: {method} {path} {params or ''} {shown}\n"
                f"→ {response.status_code} {response.text[:1000]}"
            )
        return response
    raise AssertionError("unreachable")


def _id_from_location(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[1]


def find_user_id(server: Server, client: httpx.Client, name: str) -> str:
    found = request(
        server, client, "GET", "/Users",
        params={"filter": f'userName eq "{name}"', "attributes": "id"},
    ).json()  # fmt: skip
    if found.get("totalResults") != 1:
        raise BenchError(f"{server.name}: user {name} not found after a 409: {found}")
    user_id: str = found["Resources"][0]["id"]
    return user_id


def bulk_create(server: Server, client: httpx.Client, indexes: Sequence[int]) -> dict[int, str]:
    operations = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": f"u{index}",
            "data": user_document(user_name(index)),
        }
        for index in indexes
    ]
    body = {"schemas": [BULK_REQUEST], "Operations": operations}
    if len(json.dumps(body)) > server.bulk_max_payload and len(indexes) > 1:
        half = len(indexes) // 2
        return bulk_create(server, client, indexes[:half]) | bulk_create(
            server, client, indexes[half:]
        )
    reply = request(server, client, "POST", "/Bulk", body=body).json()
    created: dict[int, str] = {}
    for index, result in zip(indexes, reply["Operations"], strict=True):
        status = int(result["status"])
        if result.get("bulkId") != f"u{index}":
            raise BenchError(f"{server.name}: bulk results out of order: {result}")
        if status == 201:
            created[index] = _id_from_location(result["location"])
        elif status == 409:
            # A retried bulk after a connection reset: the user was created the first time.
            created[index] = find_user_id(server, client, user_name(index))
        else:
            raise BenchError(f"{server.name}: bulk POST of {user_name(index)} → {result}")
    return created


def load_users(server: Server, indexes: Sequence[int]) -> None:
    size = min(server.bulk_max_operations, 1000)
    chunks = [indexes[i : i + size] for i in range(0, len(indexes), size)]
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def run(chunk: Sequence[int]) -> dict[int, str]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = server.client()
            with lock:
                clients.append(client)
        return bulk_create(server, client, chunk)

    try:
        with concurrent.futures.ThreadPoolExecutor(server.load_concurrency) as pool:
            for created in pool.map(run, chunks):
                server.ids.update(created)
    finally:
        for client in clients:
            client.close()


def create_group(server: Server, name: str, member_indexes: Sequence[int]) -> None:
    """A group, then its members in PATCHes of at most MEMBER_CHUNK.

    The peer gets its members in the POST itself: each PATCH of its costs time in
    proportion to the members already there, so chunked loading of 100k members
    takes it ten minutes. Loading is not measured; only the end state matters.
    """
    ids = [server.ids[i] for i in member_indexes]
    at_once = server.name == "scim2-server"
    body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": name}
    if at_once:
        body["members"] = [{"value": member} for member in ids]
    with server.client() as client:
        group = request(
            server, client, "POST", "/Groups", body=body,
            params={"excludedAttributes": "members"}, expect=(201,),
        ).json()  # fmt: skip
        group_id: str = group["id"]
        server.groups[name] = group_id
        if at_once:
            return
        for start in range(0, len(ids), MEMBER_CHUNK):
            request(
                server, client, "PATCH", f"/Groups/{group_id}",
                body=add_members(ids[start : start + MEMBER_CHUNK]),
                params={"excludedAttributes": "members"},
                expect=(200, 204),
            )  # fmt: skip


def count_members(server: Server, name: str) -> int:
    with server.client() as client:
        group = request(server, client, "GET", f"/Groups/{server.groups[name]}").json()
    return len(group.get("members") or [])


def count_users(server: Server) -> int:
    with server.client() as client:
        page = request(server, client, "GET", "/Users", params={"count": "0"}).json()
    total: int = page["totalResults"]
    return total


def load_step(
    servers: Sequence[Server], label: str, timings: dict[str, float], steps: Sequence[LoadStep]
) -> None:
    """Run loading steps on every server at once, each server through its own steps in order.

    Loading is not measured, so the servers load side by side. Records the seconds each
    step took on each server.
    """

    def on(server: Server) -> None:
        for name, action in steps:
            started = time.monotonic()
            action(server)
            elapsed = time.monotonic() - started
            timings[f"{name} ({server.name})"] = elapsed
            print(f"  {server.name}: {name} in {elapsed:.0f} s", flush=True)

    print(f"{label} …", flush=True)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
        for future in [pool.submit(on, s) for s in servers]:
            future.result()
    timings[f"loading {label.split(' ', 1)[1]}"] = time.monotonic() - started


LoadStep = tuple[str, Callable[[Server], Any]]


# --- idleness: a server still working through abandoned requests must not skew the next run -


def session_pids(session_id: int) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id:
            pids.add(int(entry.name))
    return pids


def session_cpu_seconds(session_id: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields[0] is state (field 3 of stat(5)): session is field 6, utime/stime 14/15.
        if int(fields[3]) == session_id:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def wait_idle(server: Server, limit: float = 900.0) -> float:
    """Wait until the server's processes stop using CPU; returns the seconds waited."""
    started = time.monotonic()
    calm = 0
    before = session_cpu_seconds(server.process.pid)
    while time.monotonic() - started < limit:
        server.ensure_running()
        time.sleep(0.5)
        after = session_cpu_seconds(server.process.pid)
        calm = calm + 1 if (after - before) / 0.5 < IDLE_CPU_FRACTION else 0
        before = after
        if calm >= 2:
            return time.monotonic() - started
    print(f"  warning: {server.name} still busy after {limit:.0f} s", flush=True)
    return time.monotonic() - started


# --- wrk and its Lua scripts ----------------------------------------------------------------


PLACEHOLDER = re.compile(r"@[A-Z_]+@")

LUA_PRELUDE = r"""-- Generated by benchmarks/bench_scim.py. wrk runs this file in one Lua state
-- per thread (plus one for setup/done); the harness runs one connection per thread.
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

tid = 0
non2xx = 0
wrong = 0
first_error = nil

wrk.headers["Authorization"] = "Bearer @TOKEN@"
wrk.headers["Accept"] = "application/scim+json"
@CONTENT_TYPE@

local check = @CHECK@

-- Only the warm-up run defines response(): with it, wrk hands every response to Lua,
-- which costs the client more CPU than the fastest server takes to answer, on a
-- machine where both share two cores. The measured run counts non-2xx from wrk.
@RESPONSE@(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == nil then
      first_error = status .. " " .. string.sub(body or "", 1, 400)
    end
  elseif check ~= nil and not string.find(body or "", check) then
    wrong = wrong + 1
    if first_error == nil then
      first_error = "unexpected " .. status .. " " .. string.sub(body or "", 1, 400)
    end
  end
end

function done(summary, latency, requests)
  local n2, wr, example = 0, 0, ""
  for _, t in ipairs(threads) do
    n2 = n2 + (t:get("non2xx") or 0)
    wr = wr + (t:get("wrong") or 0)
    local e = t:get("first_error")
    if e ~= nil and example == "" then example = e end
  end
  local e = summary.errors
  if not @CHECKING@ then n2 = e.status end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"non2xx":%d,"wrong":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, n2, wr,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
  io.write("BENCH_EXAMPLE ", (string.gsub(example, "[\r\n]", " ")), "\n")
end
"""

LUA_POST_USERS = r"""
local counter = 0
local prefix = ""

function init(args)
  math.randomseed(@SEED@ + tid * 104729)
  prefix = "@RUN@-t" .. tid .. "-" .. string.format("%08x", math.random(0, 2147483646)) .. "-"
end

function request()
  counter = counter + 1
  local name = prefix .. counter
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","name":{"givenName":"Bench","familyName":"' .. name .. '"},"displayName":"' .. name ..
    '","emails":[{"value":"' .. name .. '@bench.example","type":"work","primary":true}],' ..
    '"active":true}'
  return wrk.format("POST", "@BASE@/Users", nil, body)
end
"""

LUA_GET_FILTER = r"""
function init(args)
  math.randomseed(@SEED@ + tid * 7919)
end

function request()
  local i = math.random(0, @USERS@ - 1)
  return wrk.format("GET",
    "@BASE@/Users?filter=userName%20eq%20%22u" .. string.format("%07d", i) .. "%22")
end
"""

LUA_PATCH_MEMBER = r"""
local pool = { @POOL@ }
local per_thread = math.floor(#pool / @THREADS@)
local first = 0
local i = 0

function init(args)
  first = tid * per_thread
end

-- Request 2k adds pool user k of this connection, request 2k+1 removes it: one
-- connection per thread keeps them in order, so the group's size stays constant.
function request()
  local k = math.floor(i / 2) % per_thread
  local id = pool[first + k + 1]
  local body
  if i % 2 == 0 then
    body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":' ..
      '[{"op":"add","path":"members","value":[{"value":"' .. id .. '"}]}]}'
  else
    body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":' ..
      '[{"op":"remove","path":"members[value eq \\"' .. id .. '\\"]"}]}'
  end
  i = i + 1
  return wrk.format("PATCH", "@BASE@/Groups/@GROUP@@QUERY@", nil, body)
end
"""

LUA_LIST_PAGE = r"""
function request()
  return wrk.format("GET", "@BASE@/Users?startIndex=1&count=100")
end
"""


def render_lua(template: str, values: dict[str, str]) -> str:
    text = template
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = PLACEHOLDER.search(text)
    if leftover:
        raise BenchError(f"unfilled placeholder {leftover.group()} in a Lua script")
    return text


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    phase: str
    """``small``, ``large`` or ``huge``: the size of the tenant it runs against."""
    template: str
    method: str
    check: str | None = None
    """A Lua pattern every 2xx body must contain (else it counts as a wrong answer)."""
    group: str | None = None
    query: str = ""


GROUP_A = "bench-group-a"
GROUP_B = "bench-group-b"
GROUP_C = "bench-group-c"
EXCLUDED = "?excludedAttributes=members"
FILTER_CHECK = '"totalResults":%s*1%s*[,}]'

WORKLOADS = (
    Workload(
        "filter_small", 'GET /Users?filter=userName eq "…"', "small", LUA_GET_FILTER, "GET",
        FILTER_CHECK,
    ),
    Workload(
        "patch_small_excluded", "PATCH group A ±1 member ?excludedAttributes=members", "small",
        LUA_PATCH_MEMBER, "PATCH", group=GROUP_A, query=EXCLUDED,
    ),
    Workload(
        "patch_small_plain", "PATCH group A ±1 member (plain)", "small",
        LUA_PATCH_MEMBER, "PATCH", group=GROUP_A,
    ),
    Workload(
        "filter_large", 'GET /Users?filter=userName eq "…"', "large", LUA_GET_FILTER, "GET",
        FILTER_CHECK,
    ),
    Workload(
        "patch_large_excluded", "PATCH group B ±1 member ?excludedAttributes=members", "large",
        LUA_PATCH_MEMBER, "PATCH", group=GROUP_B, query=EXCLUDED,
    ),
    Workload(
        "patch_large_plain", "PATCH group B ±1 member (plain)", "large",
        LUA_PATCH_MEMBER, "PATCH", group=GROUP_B,
    ),
    Workload(
        "list_large", "GET /Users?startIndex=1&count=100", "large", LUA_LIST_PAGE, "GET",
        '"itemsPerPage":%s*100%s*[,}]',
    ),
    Workload("post_users", "POST /Users (new userName each)", "large", LUA_POST_USERS, "POST"),
    Workload(
        "filter_huge", 'GET /Users?filter=userName eq "…"', "huge", LUA_GET_FILTER, "GET",
        FILTER_CHECK,
    ),
    Workload(
        "patch_huge_excluded", "PATCH group C ±1 member ?excludedAttributes=members", "huge",
        LUA_PATCH_MEMBER, "PATCH", group=GROUP_C, query=EXCLUDED,
    ),
)  # fmt: skip


@dataclass
class RunResult:
    server: str
    workload: str
    users: int
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    bytes_per_response: float
    non2xx: int
    wrong: int
    socket_errors: dict[str, int]
    example_error: str
    settle_s: float = 0.0

    @property
    def errors_total(self) -> int:
        return sum(self.socket_errors.values())


class Wrk:
    def __init__(self, plan: Plan, workdir: Path, run_id: str) -> None:
        self.plan = plan
        self.scripts = workdir / "lua"
        self.scripts.mkdir(parents=True, exist_ok=True)
        self.raw = workdir / "wrk"
        self.raw.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.counter = 0

    def script(self, workload: Workload, server: Server, users: int, *, checking: bool) -> Path:
        self.counter += 1
        pool = range(self.plan.pool) if workload.group else range(0)
        pool_ids = [server.ids[self.plan.small + k] for k in pool]
        method = workload.method
        values = {
            "TOKEN": server.token,
            "CONTENT_TYPE": (
                f'wrk.headers["Content-Type"] = "{MEDIA_TYPE}"'
                if method in ("POST", "PATCH")
                else ""
            ),
            "CHECK": "nil" if workload.check is None else lua_string(workload.check),
            "SEED": str(secrets.randbelow(1_000_000_000)),
            "RUN": f"{self.run_id}-{self.counter}",
            "BASE": server.base_path,
            "USERS": str(users),
            "POOL": ", ".join(f'"{i}"' for i in pool_ids) if workload.group else "",
            "THREADS": str(self.plan.connections),
            "GROUP": server.groups.get(workload.group or "", ""),
            "QUERY": workload.query,
            "RESPONSE": "function response" if checking else "local function unused",
            "CHECKING": "true" if checking else "false",
        }
        path = self.scripts / f"{self.counter:02d}-{workload.key}-{server.name}.lua"
        path.write_text(render_lua(LUA_PRELUDE + workload.template, values))
        return path

    def run(self, script: Path, server: Server, duration: int, connections: int) -> dict[str, Any]:
        command = [
            "wrk",
            "-t", str(connections), "-c", str(connections),
            "-d", f"{duration}s", "--timeout", f"{self.plan.timeout}s",
            "--latency", "-s", str(script), server.root,
        ]  # fmt: skip
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration + self.plan.timeout + 120,
            check=False,
        )
        (self.raw / f"{script.stem}-{duration}s.txt").write_text(
            " ".join(command) + "\n\n" + result.stdout + result.stderr
        )
        summary: dict[str, Any] | None = None
        example = ""
        for line in result.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                summary = json.loads(line.removeprefix("BENCH_JSON "))
            elif line.startswith("BENCH_EXAMPLE "):
                example = line.removeprefix("BENCH_EXAMPLE ").strip()
        if result.returncode != 0 or summary is None:
            raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        summary["example"] = example
        return summary


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def measure(wrk: Wrk, workload: Workload, server: Server, users: int, plan: Plan) -> RunResult:
    # Warm-up on one connection (worker pools, caches, the peer's lazy eq index), unmeasured,
    # with its own script so that the users it creates never collide with the measured run's.
    # It also checks every answer's body ("wrong" answers), which the measured run does not.
    warmup = wrk.run(wrk.script(workload, server, users, checking=True), server, plan.warmup, 1)
    script = wrk.script(workload, server, users, checking=False)
    wait_idle(server)
    summary = wrk.run(script, server, plan.duration, plan.connections)
    settle = wait_idle(server)
    duration = summary["duration_us"] / 1e6
    requests = int(summary["requests"])
    return RunResult(
        server=server.name,
        workload=workload.key,
        users=users,
        requests=requests,
        duration_s=round(duration, 2),
        rps=requests / duration if duration else 0.0,
        p50_ms=summary["p50"] / 1000,
        p90_ms=summary["p90"] / 1000,
        p99_ms=summary["p99"] / 1000,
        mean_ms=summary["mean"] / 1000,
        max_ms=summary["max"] / 1000,
        bytes_per_response=summary["bytes"] / requests if requests else 0.0,
        non2xx=int(summary["non2xx"]) + int(warmup["non2xx"]),
        wrong=int(warmup["wrong"]),
        socket_errors={k: int(summary[k]) for k in ("connect", "read", "write", "timeout")},
        example_error=warmup["example"] or summary["example"],
        settle_s=round(settle, 1),
    )


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    label: str
    value: float | None
    goal: str
    met: bool | None


def ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f}x" if value >= 10 else f"{value:.2f}x"


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def fmt_ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def errors_cell(run: RunResult) -> str:
    parts = [f"{run.non2xx}"]
    socket_errors = ", ".join(f"{k} {v}" for k, v in run.socket_errors.items() if v)
    parts.append(socket_errors or "0")
    if run.wrong:
        parts.append(f"wrong {run.wrong}")
    return " / ".join(parts)


def targets(results: dict[tuple[str, str], RunResult], workers: int) -> list[Target]:
    def rps(server: str, key: str) -> float:
        run = results.get((server, key))
        return run.rps if run else 0.0

    out: list[Target] = []

    def at_least(label: str, value: float | None, goal: float) -> None:
        out.append(Target(label, value, f"≥ {goal:g}x", None if value is None else value >= goal))

    def at_most(label: str, value: float | None, goal: float) -> None:
        out.append(Target(label, value, f"≤ {goal:g}x", None if value is None else value <= goal))

    at_least(
        "POST /Users: idsync / peer",
        ratio(rps("idsync", "post_users"), rps("scim2-server", "post_users")),
        3,
    )
    at_most(
        "GET filter: ceiling (bare Starlette, 1 worker) / idsync"
        + ("" if workers == 1 else f" ({workers} workers: the target is for 1)"),
        ratio(rps("ceiling", "filter_small"), rps("idsync", "filter_small")),
        2,
    )
    at_least(
        "GET filter at 100k: idsync / peer",
        ratio(rps("idsync", "filter_large"), rps("scim2-server", "filter_large")),
        10,
    )
    at_most(
        "GET filter: idsync 10k req/s ÷ 100k req/s",
        ratio(rps("idsync", "filter_small"), rps("idsync", "filter_large")),
        1.5,
    )
    at_most(
        "PATCH ?excludedAttributes: idsync 10k req/s ÷ 100k req/s",
        ratio(rps("idsync", "patch_small_excluded"), rps("idsync", "patch_large_excluded")),
        1.5,
    )
    huge = results.get(("idsync", "filter_huge"))
    if huge is not None:
        at_most(
            f"GET filter: idsync 10k req/s ÷ {short_count(huge.users)} req/s",
            ratio(rps("idsync", "filter_small"), rps("idsync", "filter_huge")),
            1.5,
        )
        at_most(
            f"PATCH ?excludedAttributes: idsync 10k req/s ÷ {short_count(huge.users)} req/s",
            ratio(rps("idsync", "patch_small_excluded"), rps("idsync", "patch_huge_excluded")),
            1.5,
        )
    return out


def short_count(users: int) -> str:
    """1,001,000 users as ``1M``, 101,000 as ``101k``."""
    if users >= 1_000_000 and users % 1_000_000 < 10_000:
        return f"{users // 1_000_000}M"
    return f"{users // 1000}k"


def table_rows(results: dict[tuple[str, str], RunResult], plan: Plan) -> list[list[str]]:
    rows = []
    for workload in WORKLOADS:
        ours = results.get(("idsync", workload.key))
        peer = results.get(("scim2-server", workload.key))
        if ours is None:
            continue
        theirs = (
            [
                fmt_rps(peer.rps),
                f"{fmt_ms(peer.p50_ms)} / {fmt_ms(peer.p99_ms)}",
                errors_cell(peer),
                fmt_ratio(ratio(ours.rps, peer.rps)),
            ]
            if peer is not None
            else ["not loaded", "", "", ""]
        )
        rows.append(
            [
                workload.title,
                f"{ours.users:,}",
                fmt_rps(ours.rps),
                f"{fmt_ms(ours.p50_ms)} / {fmt_ms(ours.p99_ms)}",
                errors_cell(ours),
                *theirs,
            ]
        )
    return rows


TABLE_HEADER = [
    "workload",
    "users",
    "idsync req/s",
    "idsync p50/p99 ms",
    "idsync non-2xx / socket err",
    "peer req/s",
    "peer p50/p99 ms",
    "peer non-2xx / socket err",
    "idsync/peer",
]


def growth_rows(
    results: dict[tuple[str, str], RunResult],
    to: str = "large",
    servers: Sequence[str] = ("idsync", "scim2-server"),
) -> list[list[str]]:
    """Each workload's rate and p50 from the small tenant to the ``to`` one, per server."""
    defined = {w.key for w in WORKLOADS}
    rows = []
    for label, key in (
        ("GET filter", "filter_{}"),
        ("PATCH ±1 member ?excludedAttributes", "patch_{}_excluded"),
        ("PATCH ±1 member (plain)", "patch_{}_plain"),
    ):
        small, grown = key.format("small"), key.format(to)
        if grown not in defined:
            continue
        row = [label]
        for server in servers:
            a, b = results.get((server, small)), results.get((server, grown))
            if a is None or b is None:
                row += ["n/a", "n/a"]
                continue
            row.append(fmt_ratio(ratio(a.rps, b.rps)))
            row.append(fmt_ratio(ratio(b.p50_ms, a.p50_ms)))
        rows.append(row)
    return rows


GROWTH_HEADER = [
    "workload (10k → 100k)",
    "idsync req/s 10k÷100k",
    "idsync p50 100k÷10k",
    "peer req/s 10k÷100k",
    "peer p50 100k÷10k",
]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def target_rows(items: list[Target]) -> list[list[str]]:
    verdict = {True: "met", False: "NOT MET", None: "n/a"}
    return [[t.label, fmt_ratio(t.value), t.goal, verdict[t.met]] for t in items]


TARGET_HEADER = ["target", "measured", "goal", "verdict"]


def machine_info(plan: Plan) -> dict[str, str]:
    postgres = "not used"
    try:
        import psycopg

        with psycopg.connect(plan.pg_url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            version = row[0] if row else "?"
            postgres = version + ("" if plan.backend == "postgresql" else " (available, not used)")
    except Exception as exc:  # any failure only means "not reachable"
        postgres = f"not reachable ({type(exc).__name__})"
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "date": subprocess.run(
            ["date", "-u"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu_model(),
        "ram": memory_total(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres,
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("Copyright")[0].strip(),
        "idsync": f"{package_version('idsync')} (commit {idsync_revision()})",
        "scim2-server": package_version("scim2-server"),
        "kernel": platform.release(),
    }


def idsync_revision() -> str:
    """The commit idsync runs from, and whether its source differs from it."""
    repo = HERE.parent

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def source_fingerprint() -> str:
    """A digest of idsync's source: the package is installed editable, so workers import it."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((HERE.parent / "src").rglob("*.py")):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@dataclass
class Report:
    plan: Plan
    command: str
    machine: dict[str, str]
    results: dict[tuple[str, str], RunResult]
    timings: dict[str, float]
    users_seen: dict[str, dict[str, int]]
    group_sizes: dict[str, dict[str, int]]
    warnings: list[str] = field(default_factory=list)

    def _huge_header(self) -> list[str]:
        size = short_count(self.plan.huge)
        return [f"workload (10k → {size})", f"idsync req/s 10k÷{size}", f"idsync p50 {size}÷10k"]

    def _huge_growth(self) -> list[str]:
        if not self.plan.huge:
            return []
        return [
            f"## Growth from 10k to {short_count(self.plan.huge)} users (idsync)",
            "",
            f"The tenant grows to {self.plan.huge:,} users through one cycle of a file "
            f"integration (its users also make group C, {self.plan.huge - self.plan.large_total:,}"
            " members); the peer, which holds everything in memory, is not loaded that far.",
            "",
            md_table(self._huge_header(), growth_rows(self.results, "huge", ("idsync",))),
            "",
        ]

    def observations(self) -> list[str]:
        """What the figures themselves say beyond the tables."""
        notes = list(self.warnings)
        for key in ("patch_small_plain", "patch_large_plain"):
            ours = self.results.get(("idsync", key))
            peer = self.results.get(("scim2-server", key))
            if ours and peer:
                notes.append(
                    f"`{key}`: idsync answers a plain PATCH with the whole group, "
                    f"{ours.bytes_per_response / 1e6:,.2f} MB per response on average (RFC 7644 "
                    "§3.5.2's first choice, which scim-sanity requires); the peer answers "
                    f"{peer.bytes_per_response:,.0f} bytes (204 No Content). So this row grows "
                    "with the group by design, and is not a target: the membership change itself "
                    "is measured by the `excludedAttributes` rows, which is also what idsync does "
                    "for `Prefer: return=minimal` or an org set to `--group-patch-response "
                    "minimal` (Entra ID's preference)."
                )
        few = [
            f"{r.workload} ({r.requests})"
            for r in self.results.values()
            if r.server == "scim2-server" and r.requests < 50
        ]
        if few:
            notes.append(
                "The peer completed few requests in some runs, so its figures there rest on a "
                f"small sample (requests completed): {', '.join(few)}."
            )
        return notes

    def wrk_parameters(self) -> str:
        p = self.plan
        return (
            f"wrk -t {p.connections} -c {p.connections} -d {p.duration}s --timeout {p.timeout}s "
            f"--latency -s <generated script> (one connection per wrk thread); before each "
            f"measured run an unmeasured {p.warmup} s warm-up on 1 connection; the harness waits "
            f"for the server to go idle (CPU < {IDLE_CPU_FRACTION:.0%} of a core) before and "
            f"after each run"
        )

    def markdown(self) -> str:
        p, m = self.plan, self.machine
        items = targets(self.results, p.workers)
        database = (
            "SQLite (fresh file in a temp dir)"
            if p.backend == "sqlite"
            else ("PostgreSQL (fresh schema)")
        )
        lines = [
            "# idsync vs scim2-server: benchmark results"
            + ("" if section_name(p) == "scim" else f" ({p.backend}, {p.workers} idsync workers)"),
            "",
            "Generated by `benchmarks/bench_scim.py` (see `benchmarks/README.md`). Do not edit by "
            "hand: rerun the benchmark.",
            "",
            f"- **Date:** {m['date']}",
            f"- **Command:** `{self.command}`",
            f"- **Machine:** {m['nproc']} cores ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}",
            f"- **Software:** Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
            f"{m['postgresql']}, {m['wrk']}, idsync {m['idsync']}, "
            f"scim2-server {m['scim2-server']}",
            f"- **idsync:** `idsync serve --workers {p.workers}` (uvicorn), database: {database}",
            "- **Peer:** `scim2-server --port P --bearer-token T` (in-memory, threaded wsgiref, "
            "one process; it logs every request to stderr, sent to a file here)",
            "- **Ceiling:** `benchmarks/ceiling.py`, a bare Starlette app under uvicorn (one "
            "worker) answering every `GET /v2/Users` with the same one-user list, no database: "
            "measured on `filter_small` only, in the same run",
            f"- **wrk:** {self.wrk_parameters()}",
            f"- **Data:** small tenant {p.small_total:,} users (group A: {p.small:,} members), "
            f"large tenant {p.large_total:,} users (group B: {p.large:,} members); "
            f"{p.pool:,} pool users belong to neither group"
            + (
                f"; then, for idsync only, a tenant of {p.huge:,} users (group C: "
                f"{p.huge - p.large_total:,} members)"
                if p.huge
                else ""
            ),
            f"- **Wall time:** {self.timings.get('total', 0) / 60:.1f} min in all (see Timings)",
            "",
            f"**Caveat:** the machine has {m['nproc']} cores and wrk runs on the same machine, so "
            "wrk, the server under test and (for idsync) its database share them; the servers "
            "are measured one after the other, never at the same time. Absolute figures are "
            "low; the ratios are the point.",
            "",
            "## Throughput and latency",
            "",
            md_table(TABLE_HEADER, table_rows(self.results, p)),
            "",
            "`non-2xx / socket err`: responses outside 200–299, then wrk's socket errors "
            "(connect, read, write, timeout); `wrong` counts 2xx answers that did not hold "
            "what was asked (a filter not returning exactly one user, a page not holding 100), "
            "checked on every answer of the warm-up run (the measured run only counts statuses: "
            "reading every body in Lua would cost the client more CPU than the server spends).",
            "",
            "## Growth from 10k to 100k users",
            "",
            md_table(GROWTH_HEADER, growth_rows(self.results)),
            "",
            *self._huge_growth(),
            "## Targets",
            "",
            md_table(TARGET_HEADER, target_rows(items)),
            "",
            "## Timings",
            "",
            md_table(
                ["step", "seconds"],
                [[k, f"{v:,.0f}"] for k, v in self.timings.items()],
            ),
            "",
            "Loading runs on both servers at once (it is not measured); measuring runs one "
            "server at a time.",
            "",
            "## Details",
            "",
            md_table(
                [
                    "workload",
                    "server",
                    "users",
                    "requests",
                    "req/s",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "max ms",
                    "bytes/response",
                    "non-2xx",
                    "socket errors",
                    "settle s",
                ],
                [
                    [
                        r.workload,
                        r.server,
                        f"{r.users:,}",
                        f"{r.requests:,}",
                        fmt_rps(r.rps),
                        fmt_ms(r.p50_ms),
                        fmt_ms(r.p90_ms),
                        fmt_ms(r.p99_ms),
                        fmt_ms(r.max_ms),
                        f"{r.bytes_per_response:,.0f}",
                        str(r.non2xx),
                        str(r.errors_total),
                        f"{r.settle_s:g}",
                    ]
                    for r in self.results.values()
                ],
            ),
            "",
            "`settle s`: how long the server kept working after wrk stopped (requests wrk "
            "abandoned at the end of the run), waited out before the next run.",
            "",
            f"Users counted after loading: {json.dumps(self.users_seen)}; group members after "
            f"the PATCH workloads: {json.dumps(self.group_sizes)}.",
        ]
        notes = self.observations()
        if notes:
            lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
        examples = [
            f"- {r.workload} on {r.server}: `{r.example_error[:300]}`"
            for r in self.results.values()
            if r.example_error
        ]
        if examples:
            lines += ["", "First error or unexpected answer per run:", "", *examples]
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        return "\n\n".join(
            [
                text_table(TABLE_HEADER, table_rows(self.results, self.plan)),
                text_table(GROWTH_HEADER, growth_rows(self.results)),
                *(
                    [
                        text_table(
                            self._huge_header(), growth_rows(self.results, "huge", ("idsync",))
                        )
                    ]
                    if self.plan.huge
                    else []
                ),
                text_table(TARGET_HEADER, target_rows(targets(self.results, self.plan.workers))),
            ]
        )


def seed_huge(plan: Plan, server: Server, database_url: str, workdir: Path) -> None:
    """Users ``large_total``..``huge - 1`` (named as the API-loaded ones) and group C holding
    them all, written by one cycle of a file integration into the bench's organisation.

    Through the API this would take idsync about 20 minutes for a million users; the sync
    engine writes them in a few. The peer keeps everything in memory and is not grown.
    """
    users, groups = workdir / "huge-users.csv", workdir / "huge-groups.csv"
    indexes = range(plan.large_total, plan.huge)
    with users.open("w") as out:
        out.write("id,userName,displayName\n")
        out.writelines(f"s{i},{user_name(i)},{user_name(i)}\n" for i in indexes)
    with groups.open("w") as out:
        out.write(f"id,displayName,members\nc,{GROUP_C},")
        out.write(";".join(f"s{i}" for i in indexes) + "\n")
    org_id = server.base_path.split("/")[2]
    added = idsync_cli(
        "integration", "add", "file", "--org", org_id, "--users", str(users),
        "--groups", str(groups), "--page-size", "10000", "--name", "bench-huge",
        "--json", "--database", database_url,
    )  # fmt: skip
    report = idsync_cli("sync", "run", added["id"], "--json", "--database", database_url)
    counts = report.get("counts", {})
    if report.get("status") != "Active" or counts.get("failed") or counts.get("rejected"):
        raise BenchError(f"seeding the huge tenant failed: {json.dumps(report)[:2000]}")
    with server.client() as client:
        found = request(
            server, client, "GET", "/Groups",
            params={"filter": f'displayName eq "{GROUP_C}"', "excludedAttributes": "members"},
        )  # fmt: skip
        server.groups[GROUP_C] = found.json()["Resources"][0]["id"]


# --- the run --------------------------------------------------------------------------------


def run(plan: Plan, args: argparse.Namespace, argv: Sequence[str]) -> Report:
    started = time.monotonic()
    timings: dict[str, float] = {}
    results: dict[tuple[str, str], RunResult] = {}
    users_seen: dict[str, dict[str, int]] = {}
    group_sizes: dict[str, dict[str, int]] = {}
    command = shlex.join(["python", "benchmarks/bench_scim.py", *argv])
    machine = machine_info(plan)
    fingerprint = source_fingerprint()
    same_processes = True
    workdir = Path(tempfile.mkdtemp(prefix="idsync-bench-"))
    print(f"work dir: {workdir}", flush=True)
    servers: list[Server] = []
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        if plan.backend == "postgresql":
            database_url = stack.enter_context(postgres_schema(plan.pg_url))
        else:
            database_url = f"sqlite:///{workdir / 'bench.db'}"
        stack.callback(stop_all, servers)
        servers.append(start_idsync(plan, database_url, workdir))
        servers.append(start_peer(workdir))
        idsync_pids = session_pids(servers[0].process.pid)
        for server in servers:
            read_bulk_limits(server)
        wrk = Wrk(plan, workdir, secrets.token_hex(3))

        def phase(name: str, users: int, only: Sequence[Server] | None = None) -> None:
            measured_servers = servers if only is None else only
            for server in measured_servers:
                users_seen.setdefault(name, {})[server.name] = count_users(server)
            for workload in (w for w in WORKLOADS if w.phase == name):
                for server in measured_servers:
                    print(f"  {workload.key} on {server.name} …", end=" ", flush=True)
                    result = measure(wrk, workload, server, users, plan)
                    results[(server.name, workload.key)] = result
                    print(
                        f"{fmt_rps(result.rps)} req/s, p50 {fmt_ms(result.p50_ms)} ms, "
                        f"p99 {fmt_ms(result.p99_ms)} ms, non-2xx {result.non2xx}, "
                        f"socket errors {result.errors_total}"
                        + (f", wrong {result.wrong}" if result.wrong else "")
                        + (f" (settled {result.settle_s:g} s)" if result.settle_s > 2 else ""),
                        flush=True,
                    )

        # Phase 1: the small tenant. Users 0..small-1 are group A; the pool follows them.
        small_indexes = list(range(plan.small_total))
        load_step(
            servers,
            f"loading {plan.small_total:,} users and group A ({plan.small:,} members)",
            timings,
            [
                ("small users", lambda s: load_users(s, small_indexes)),
                ("group A", lambda s: create_group(s, GROUP_A, range(plan.small))),
            ],
        )
        for server in servers:
            wait_idle(server)
        measured = time.monotonic()
        phase("small", plan.small_total)
        ceiling = start_ceiling(workdir)
        servers.append(ceiling)
        filter_small = next(w for w in WORKLOADS if w.key == "filter_small")
        print("  filter_small on the ceiling (bare Starlette) …", end=" ", flush=True)
        results[("ceiling", "filter_small")] = measure(
            wrk, filter_small, ceiling, plan.small_total, plan
        )
        print(f"{fmt_rps(results[('ceiling', 'filter_small')].rps)} req/s", flush=True)
        stop(servers.pop())
        timings["measure small"] = time.monotonic() - measured

        # Phase 2: grow to the large tenant. Group B: every user but the pool.
        grown = list(range(plan.small_total, plan.large_total))
        members_b = [*range(plan.small), *grown]
        load_step(
            servers,
            f"loading {len(grown):,} more users and group B ({plan.large:,} members)",
            timings,
            [
                ("more users", lambda s: load_users(s, grown)),
                ("group B", lambda s: create_group(s, GROUP_B, members_b)),
            ],
        )
        for server in servers:
            wait_idle(server)
        measured = time.monotonic()
        phase("large", plan.large_total)
        timings["measure large"] = time.monotonic() - measured

        if plan.huge:
            # Phase 3: idsync alone, grown to plan.huge users by the sync engine.
            ours = servers[0]
            step = f"seeding {plan.huge - plan.large_total:,} more users and group C (idsync)"
            print(f"{step} …", flush=True)
            seeded = time.monotonic()
            seed_huge(plan, ours, database_url, workdir)
            timings[step] = time.monotonic() - seeded
            wait_idle(ours)
            measured = time.monotonic()
            phase("huge", plan.huge, only=[ours])
            timings["measure huge"] = time.monotonic() - measured

        same_processes = session_pids(servers[0].process.pid) == idsync_pids
        for server in servers:
            group_sizes[server.name] = {
                group: count_members(server, group)
                for group in (GROUP_A, GROUP_B, GROUP_C)
                if group in server.groups
            }
        if args.keep:
            print(f"kept {workdir} (logs, Lua scripts, raw wrk output)", flush=True)
    timings["total"] = time.monotonic() - started
    notes: list[str] = []
    if source_fingerprint() != fingerprint and same_processes:
        notes.append(
            "idsync's source changed during this run, after the idsync server had started. "
            "Its processes ran from start to end (none restarted), so they kept the code they "
            "imported at the start: the commit named above."
        )
        print(f"\nnote: {notes[-1]}", file=sys.stderr)
    elif source_fingerprint() != fingerprint:
        notes.append(
            "**idsync's source changed during this run** (src/ differs from when the run "
            "started): processes started at different times ran different code, so these "
            "figures mix versions. Rerun on a quiet tree."
        )
        print(f"\nWARNING: {notes[-1]}", file=sys.stderr)
    return Report(plan, command, machine, results, timings, users_seen, group_sizes, notes)


def section_name(plan: Plan) -> str:
    """``scim`` for the default run (SQLite, two workers); each other setup its own."""
    if plan.backend == "sqlite" and plan.workers == 2:
        return "scim"
    return f"scim-{plan.backend}-{plan.workers}w"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    plan, args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        report = run(plan, args, argv)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print()
    print(report.text())
    print(f"\ntotal wall time {report.timings['total'] / 60:.1f} min")
    OUT_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = {
        "plan": asdict(plan),
        "command": report.command,
        "machine": report.machine,
        "timings": report.timings,
        "users": report.users_seen,
        "group_sizes": report.group_sizes,
        "results": [asdict(r) for r in report.results.values()],
    }
    (OUT_DIR / f"results-{stamp}.json").write_text(json.dumps(raw, indent=2) + "\n")
    target = args.results or (OUT_DIR / "RESULTS-quick.md" if plan.quick else RESULTS_MD)
    write_section(target, section_name(plan), report.markdown())
    print(f"wrote {target} and {OUT_DIR / f'results-{stamp}.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
