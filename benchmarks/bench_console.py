"""The console's pages at 10,000 and 100,000 users: server time per page, beside the
floor (the same page's rows read by the raw driver) and the SCIM API's answer to the
same search, in one run.

    python benchmarks/bench_console.py                      # SQLite, 10k then 100k users
    python benchmarks/bench_console.py --backend postgresql
    python benchmarks/bench_console.py --quick              # 2k / 10k users, fewer requests

Users are written straight into the hub's tables in the form the hub writes them
(``store.resources.user_columns``), 5,000 per transaction: the benchmark is about reading
pages, not about loading. Every page is requested ``--repeat`` times, one at a time, by a
signed-in operator over loopback; the figure is the median (and p95) of the wall time
from request to the last byte, which on loopback is the server's time plus well under a
millisecond. The ratios are what matters on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

from idsync.config import Settings
from idsync.manage import integrations, operators, orgs, tokens
from idsync.manage.database import open_current
from idsync.store.models import GROUPS, MEMBERSHIPS, USERS
from idsync.store.resources import group_columns, user_columns
from idsync.store.types import utcnow

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section

ROOT = Path(__file__).resolve().parents[1]
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PASSWORD = "benchmark password"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def user_doc(n: int) -> dict[str, Any]:
    return {
        "schemas": [CORE, ENTERPRISE],
        "userName": f"user{n:07d}@contoso.example",
        "displayName": f"User {n:07d}",
        "externalId": f"ext-{n:07d}",
        "active": True,
        "emails": [{"value": f"user{n:07d}@contoso.example", "type": "work", "primary": True}],
        ENTERPRISE: {"department": ("Sales", "Finance", "R&D")[n % 3]},
    }


def seed_users(db: Any, org_id: str, start: int, stop: int) -> None:
    now = utcnow()
    batch: list[dict[str, Any]] = []
    for n in range(start, stop):
        batch.append(
            {
                **user_columns(user_doc(n)),
                "id": str(uuid.UUID(int=n + 1)),
                "org_id": org_id,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(batch) == 5000 or n == stop - 1:
            with db.write() as conn:
                conn.execute(USERS.insert(), batch)
            batch = []
    db.refresh_statistics("users")


def seed_groups(db: Any, org_id: str, users: int) -> str:
    """Ten groups; the first has every user seeded so far as a member."""
    now = utcnow()
    ids = [str(uuid.uuid4()) for _ in range(10)]
    with db.write() as conn:
        conn.execute(
            GROUPS.insert(),
            [
                {
                    **group_columns({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                     "displayName": f"Group {i}"}),
                    "id": gid, "org_id": org_id, "version": 1,
                    "created_at": now, "updated_at": now,
                }
                for i, gid in enumerate(ids)
            ],
        )  # fmt: skip
        rows = [
            {"org_id": org_id, "group_id": ids[0], "user_id": str(uuid.UUID(int=n + 1)),
             "created_at": now}
            for n in range(users)
        ]  # fmt: skip
        for at in range(0, len(rows), 5000):
            conn.execute(MEMBERSHIPS.insert(), rows[at : at + 5000])
    db.refresh_statistics("groups", "memberships")
    return ids[0]


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    schema = f"bench_console_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def serve(url: str, folder: Path) -> Iterator[str]:
    with socket_port() as port:
        pass
    env = {**os.environ, "IDSYNC_DATABASE_URL": url}
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "idsync", "serve", "--port", str(port), "--no-scheduler",
         "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def timed(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    call()  # warm: the first request of a kind builds caches
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "median_ms": statistics.median(seconds) * 1000,
        "p95_ms": seconds[int(len(seconds) * 0.95) - 1] * 1000,
    }


def checked(client: httpx.Client, path: str, expect: str) -> Callable[[], None]:
    def get() -> None:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        assert expect in answer.text, (path, expect)

    return get


def floor_query(url: str, org_id: str, text: str, offset: int) -> Callable[[], None]:
    """The users page's rows by the raw driver: the same prefix search, one page of 50,
    and the count, as one connection kept open (what idsync does)."""
    like = text.lower() + "%"
    sql = (
        "SELECT id, doc FROM users WHERE org_id = {p} AND (user_name_key LIKE {p} "
        "OR lower(display_name) LIKE {p}) ORDER BY id LIMIT 50 OFFSET {o}"
    )
    count = (
        "SELECT count(*) FROM users WHERE org_id = {p} AND (user_name_key LIKE {p} "
        "OR lower(display_name) LIKE {p})"
    )
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        place = "?"
    else:
        conn = psycopg.connect(url.split("?")[0], options="-csearch_path=" + url.split("%3D")[1])
        place = "%s"
    page_sql = sql.format(p=place, o=offset)
    count_sql = count.format(p=place)

    def run() -> None:
        rows = conn.execute(page_sql, (org_id, like, like)).fetchall()
        total = conn.execute(count_sql, (org_id, like, like)).fetchone()[0]
        assert rows
        assert total

    return run


def measure(base: str, url: str, org_id: str, token: str, group_id: str, users: int,
            integration_id: str, repeat: int, email: str) -> dict[str, dict[str, float]]:  # fmt: skip
    client = httpx.Client(base_url=base, timeout=120)
    signed = client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    scim = httpx.Client(
        base_url=f"{base}/scim/{org_id}/v2", headers={"Authorization": f"Bearer {token}"}
    )
    org = f"/admin/orgs/{org_id}"
    last = users - 1
    search = "user00005"  # 10,000 names at 100k users, 1,000 at 10k: pages of 50 either way
    deep = uuid.UUID(int=users - 50)  # ids are in seeding order: the last page follows it
    pages: dict[str, Callable[[], None]] = {
        "users page": checked(client, f"{org}/users", f"{users} users"),
        "users page, search (prefix)": checked(client, f"{org}/users?search={search}", "50 on this page"),
        "users page, the last one": checked(client, f"{org}/users?after={deep}", f"user{last:07d}"),
        "user page": checked(client, f"{org}/users/{uuid.UUID(int=last + 1)}", "department"),
        "group page (every user a member)": checked(client, f"{org}/groups/{group_id}", f"{users} direct members"),
        "directory sync page": checked(client, f"{org}/sync", "Job status"),
        "integration page": checked(client, f"/admin/integrations/{integration_id}", "Job status"),
        "overview page": checked(client, org, f"{users}</strong> users"),
        "audit log page": checked(client, f"{org}/logs", "entries"),
        "SCIM search, same filter": lambda: _scim(scim, search),
        "floor: raw driver, same search": floor_query(url, org_id, search, 0),
    }  # fmt: skip
    return {name: timed(call, repeat) for name, call in pages.items()}


def _scim(scim: httpx.Client, search: str) -> None:
    answer = scim.get(
        "/Users",
        params={"filter": f'userName sw "{search}" or displayName sw "{search}"', "count": 50},
    )
    assert answer.status_code == 200, answer.text[:300]


def run(backend: str, sizes: list[int], repeat: int) -> dict[int, dict[str, dict[str, float]]]:
    results: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        db = open_current(url)
        org_id = orgs.create_org(db, "Bench", actor="bench").id
        token = tokens.issue(db, org_id, "bench", actor="bench").secret
        email = "bench@contoso.example"
        operators.create_operator(db, email, PASSWORD, "full", org_id, actor="bench")
        integration = integrations.add_from_form(
            db, Settings.from_env(secret_key=_key()), org_id=org_id, kind="entra", name="Entra ID",
            values={"tenant_id": "contoso.example", "client_id": str(uuid.uuid4()),
                    "client_secret": "not-used"},
            actor="bench",
        )  # fmt: skip
        seeded = 0
        for size in sizes:
            began = time.perf_counter()
            seed_users(db, org_id, seeded, size)
            with db.write() as conn:
                conn.execute(sa.delete(GROUPS).where(GROUPS.c.org_id == org_id))
            group_id = seed_groups(db, org_id, size)
            seeded = size
            print(f"{size:,} users seeded in {time.perf_counter() - began:.1f} s", flush=True)
            with serve(url, Path(tmp)) as base:
                results[size] = measure(
                    base, url, org_id, token, group_id, size, integration.id, repeat, email
                )
            for name, figures in results[size].items():
                print(f"  {name:42} {figures['median_ms']:8.1f} ms  p95 {figures['p95_ms']:8.1f}")
        db.dispose()
    return results


def _key() -> str:
    from cryptography.fernet import Fernet

    key = os.environ.get("IDSYNC_SECRET_KEY") or Fernet.generate_key().decode()
    os.environ["IDSYNC_SECRET_KEY"] = key
    return key


def report(backend: str, results: dict[int, dict[str, dict[str, float]]], command: str) -> str:
    small, large = sorted(results)
    names = list(results[large])
    floor = "floor: raw driver, same search"
    search = "users page, search (prefix)"
    lines = [
        f"# Console pages ({backend})",
        "",
        "Generated by `benchmarks/bench_console.py`. Do not edit by hand: rerun the benchmark.",
        "",
        f"- **Date:** {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- **Command:** `{command}`",
        f"- **Machine:** {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}",
        f"- **Commit:** {_commit()}",
        "- **What:** each page requested one at a time by a signed-in operator over "
        "loopback (`idsync serve`, one process, no scheduler); median and p95 of the time "
        "to the last byte. The floor is the users search's rows and count read by the raw "
        "driver on one open connection.",
        "",
        f"| page | {small:,} users: median / p95 ms | {large:,} users: median / p95 ms "
        f"| {large:,} ÷ {small:,} |",
        "|---|---|---|---|",
    ]
    for name in names:
        a, b = results[small][name], results[large][name]
        growth = b["median_ms"] / a["median_ms"] if a["median_ms"] else 0
        lines.append(
            f"| {name} | {a['median_ms']:.1f} / {a['p95_ms']:.1f} | "
            f"{b['median_ms']:.1f} / {b['p95_ms']:.1f} | {growth:.2f}x |"
        )
    ratio = results[large][search]["median_ms"] / results[large][floor]["median_ms"]
    scim = (
        results[large][search]["median_ms"]
        / results[large]["SCIM search, same filter"]["median_ms"]
    )
    sync_growth = (
        results[large]["directory sync page"]["median_ms"]
        / results[small]["directory sync page"]["median_ms"]
    )
    lines += [
        "",
        f"At {large:,} users the search page takes {ratio:.1f}x the floor's time and "
        f"{scim:.2f}x the SCIM API's answer to the same filter (the page renders 50 rows "
        "as HTML); the directory sync page does not grow with the users "
        f"({sync_growth:.2f}x from {small:,} to {large:,}).",
    ]
    return "\n".join(lines)


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True
    )
    return done.stdout.strip() + (" (src/ had uncommitted changes)" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args()
    sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    repeat = args.repeat or (10 if args.quick else 60)
    command = "python benchmarks/bench_console.py " + " ".join(sys.argv[1:])
    results = run(args.backend, sizes, repeat)
    markdown = report(args.backend, results, command.strip())
    print(markdown)
    if not args.quick:
        write_section(Path(args.results), f"console-{args.backend}", markdown)


if __name__ == "__main__":
    main()
