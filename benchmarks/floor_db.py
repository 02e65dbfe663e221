"""The floor for a filtered GET on a database: a bare Starlette app answering
``GET /scim/{org}/v2/Users?filter=userName eq "…"`` with the least any SCIM server must do.

Per request: the bearer token's SHA-256 compared with one held in memory, the value taken
from the filter, idsync's own lookup statement (the same SQL, compiled once) run on a
psycopg connection from a pool (PostgreSQL) or on the worker's one sqlite3 connection
(SQLite), and the row's document written with orjson. No schema checks, no logging, no
tracking ID, no projection. ``FLOOR_THREADS=1`` runs the lookup through Starlette's thread
pool, as idsync runs a PostgreSQL request that is not a lookup of one user; unset, it runs
on the event loop, as idsync runs this lookup. Run by ``bench_floor.py`` beside idsync and
the peer:

    FLOOR_DATABASE_URL=postgresql://… FLOOR_ORG=… FLOOR_TOKEN=… \\
        uvicorn floor_db:app --app-dir benchmarks --workers 2
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idsync.store.resources import lookup_statement  # the very statement idsync runs

URL = os.environ["FLOOR_DATABASE_URL"]
ORG = os.environ["FLOOR_ORG"]
DIGEST = hashlib.sha256(os.environ["FLOOR_TOKEN"].encode()).hexdigest()
THREADS = os.environ.get("FLOOR_THREADS") == "1"
SQLITE = URL.startswith("sqlite:///")
_DIALECT = sa.create_engine(URL.replace("postgresql://", "postgresql+psycopg://", 1)).dialect
STATEMENT = lookup_statement("User", "user_name_key", _DIALECT)
ID, DOC = STATEMENT.fields.index("id"), STATEMENT.fields.index("doc")
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def _sqlite_lookup() -> Callable[[str], list[Any]]:
    # One connection a worker, read in autocommit, as idsync reads on the event loop.
    conn = sqlite3.connect(URL.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA cache_size = -65536")

    def lookup(value: str) -> list[Any]:
        rows = conn.execute(STATEMENT.sql, STATEMENT.parameters({"org": ORG, "value": value}))
        # The document is stored as JSON text (jsonb on PostgreSQL, which psycopg parses).
        return [(*row[:DOC], orjson.loads(row[DOC]), *row[DOC + 1 :]) for row in rows]

    return lookup


def _postgres_lookup() -> Callable[[str], list[Any]]:
    pool = ConnectionPool(URL, min_size=2, max_size=8, kwargs={"autocommit": True}, open=True)

    def lookup(value: str) -> list[Any]:
        with pool.connection() as conn:
            return conn.execute(STATEMENT.sql, {"org": ORG, "value": value}).fetchall()

    return lookup


lookup = _sqlite_lookup() if SQLITE else _postgres_lookup()


async def users(request: Request) -> Response:
    secret = request.headers.get("authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(hashlib.sha256(secret.encode()).hexdigest(), DIGEST):
        return Response(status_code=401)
    value = request.query_params["filter"].split('"')[1].lower()
    rows = await run_in_threadpool(lookup, value) if THREADS else lookup(value)
    found = [{"id": row[ID], **row[DOC]} for row in rows]
    body = {"schemas": [LIST], "totalResults": len(found), "Resources": found}
    return Response(orjson.dumps(body), media_type="application/scim+json")


async def healthz(request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


app = Starlette(routes=[Route(f"/scim/{ORG}/v2/Users", users), Route("/healthz", healthz)])
