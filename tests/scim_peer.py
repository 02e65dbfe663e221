"""Real SCIM peers for the connector tests: a ``scim2-server`` process, and a recording proxy.

- :func:`start_scim2_server`: python-scim's in-memory SCIM server on a free port
  (optionally with our own ServiceProviderConfig, e.g. small Bulk limits).
- :func:`start_proxy`: a tiny ASGI app (uvicorn, in a thread of the test process)
  that forwards every request to an upstream SCIM server with httpx and records
  its method, path, query, body, answer and upstream time; it can answer with a
  fault instead (a status with Retry-After for the next N requests, or 401 until
  cleared), or play an application with a narrower Bulk (some methods refused per
  operation, ``bulkId`` echoed for POST only). ``Proxy.calls`` lists the requests
  the application was asked, Bulk operations included.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn

from idsync.manage import orgs
from idsync.store.database import Database
from idsync.store.integrations import insert_integration
from tests.conftest import free_port


@dataclass
class Peer:
    url: str
    """The SCIM base URL (``…/v2``)."""
    token: str
    stop: Callable[[], None]
    root: str = ""


def start_scim2_server(
    tmp_path: Path,
    *,
    config: dict[str, Any] | None = None,
    schemas: list[dict[str, Any]] | None = None,
) -> Peer:
    """A scim2-server process serving SCIM at http://127.0.0.1:<port>/v2 from memory
    (``schemas``: its /Schemas instead of RFC 7643's)."""
    executable = shutil.which("scim2-server", path=str(Path(sys.executable).parent))
    executable = executable or shutil.which("scim2-server")
    assert executable, "scim2-server is not installed: pip install -e '.[test]'"
    token = secrets.token_urlsafe(24)
    port = free_port()
    extra: list[str] = []
    if config is not None:
        path = tmp_path / f"spc-{port}.json"
        path.write_text(json.dumps(config))
        extra = ["--service-provider-config", str(path)]
    if schemas is not None:
        path = tmp_path / f"schemas-{port}.json"
        path.write_text(json.dumps(schemas))
        extra += ["--schema", str(path)]
    log = (tmp_path / f"scim2-server-{port}.log").open("wb")
    process = subprocess.Popen(
        # "=": a token may start with "-", which argparse would read as an option.
        [executable, "--port", str(port), f"--bearer-token={token}", *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()

    _wait_ready(f"{root}/v2/ServiceProviderConfig", token, process.poll)
    return Peer(f"{root}/v2", token, stop, root)


def _wait_ready(url: str, token: str, exited: Callable[[], int | None]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if exited() is not None:
            raise RuntimeError("scim2-server exited at start")
        try:
            headers = {"Authorization": f"Bearer {token}"}
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


def schemas_without(schema: str, attribute: str) -> list[dict[str, Any]]:
    """scim2-server's own /Schemas (RFC 7643's) without one attribute of one schema."""
    import scim2_server

    path = Path(scim2_server.__file__).parent / "resources" / "default-schemas.json"
    schemas: list[dict[str, Any]] = json.loads(path.read_text())
    for entry in schemas:
        if entry["id"] == schema:
            entry["attributes"] = [a for a in entry["attributes"] if a["name"] != attribute]
    return schemas


def small_bulk_config(max_operations: int, max_payload: int) -> dict[str, Any]:
    """scim2-server's ServiceProviderConfig with small Bulk limits."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": max_operations, "maxPayloadSize": max_payload},
        "filter": {"supported": True, "maxResults": 1000},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [],
    }


# --- the recording proxy -------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    size: int
    body: Any
    status: int
    response: Any = None
    """The parsed JSON answer (None when there was none, or it was not JSON)."""
    seconds: float = 0.0
    """How long the upstream took to answer (0 for an injected fault)."""
    started: float = 0.0
    """``time.perf_counter()`` when the request went upstream."""

    @property
    def operations(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("Operations") or [])


@dataclass(frozen=True)
class Call:
    """One SCIM request as the application was asked it: sent alone, or as one operation
    of a Bulk request (``bulk``; its ``status`` is then the operation's own)."""

    method: str
    path: str
    body: Any
    status: int
    bulk: bool

    @property
    def operations(self) -> list[dict[str, Any]]:
        """A PATCH's operations (RFC 7644 §3.5.2)."""
        return list((self.body or {}).get("Operations") or [])


@dataclass
class Proxy:
    url: str
    """The proxied SCIM base URL: the upstream's path on the proxy's origin."""
    requests: list[Recorded] = field(default_factory=list)
    _faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    _sticky: tuple[int, dict[str, str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    stop: Callable[[], None] = lambda: None
    bulk_refused: dict[str, int] = field(default_factory=dict)
    """An application that cannot do some methods in Bulk: their Bulk operations are
    answered with this status (method → status) and never reach the upstream."""
    bulk_ids_dropped: bool = False
    """An application that echoes ``bulkId`` only for POST (all RFC 7644 §3.7.3 asks)."""

    def fail(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and Retry-After)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._lock:
            self._faults.extend([(status, headers)] * times)

    def fail_until_cleared(self, status: int) -> None:
        with self._lock:
            self._sticky = (status, {})

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._sticky = None

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def of(self, method: str, path_part: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and path_part in r.path]

    def bulks(self) -> list[Recorded]:
        return self.of("POST", "/Bulk")

    def calls(self, method: str, path_part: str = "") -> list[Call]:
        """The requests of ``method`` whose path holds ``path_part``, the operations of
        Bulk requests included (each with its status from the Bulk response)."""
        found: list[Call] = []
        with self._lock:
            requests = list(self.requests)
        for request in requests:
            if request.method == "POST" and request.path.endswith("/Bulk"):
                statuses = _bulk_statuses(request.response)
                for operation in request.operations:
                    status = statuses.get(str(operation.get("bulkId")), 0)
                    call = Call(
                        str(operation.get("method", "")).upper(),
                        str(operation.get("path", "")),
                        operation.get("data"),
                        status,
                        True,
                    )
                    found.append(call)
            else:
                found.append(
                    Call(request.method, request.path, request.body, request.status, False)
                )
        return [c for c in found if c.method == method and path_part in c.path]

    def next_fault(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            if self._sticky is not None:
                return self._sticky
            return self._faults.pop(0) if self._faults else None

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)


def _bulk_statuses(response: Any) -> dict[str, int]:
    """bulkId → status, from a BulkResponse."""
    statuses: dict[str, int] = {}
    answers = response.get("Operations") if isinstance(response, dict) else None
    for answer in answers or []:
        try:
            statuses[str(answer.get("bulkId"))] = int(answer.get("status"))
        except (TypeError, ValueError):
            continue
    return statuses


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content) if content.strip() else None
    except ValueError:
        return None


async def _forward(
    proxy: Proxy,
    client: httpx.AsyncClient,
    scope: dict[str, Any],
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> tuple[int, bytes, list[tuple[str, str]]]:
    """The upstream's answer (status, body, headers to pass on), Bulk shaped as the proxy
    plays it."""
    rewrite = scope["method"] == "POST" and scope["path"].endswith("/Bulk")
    rewrite = rewrite and bool(proxy.bulk_refused or proxy.bulk_ids_dropped)
    forwarded, refused = _refuse_in_bulk(body, proxy.bulk_refused) if rewrite else (body, [])
    if forwarded is None:  # every operation refused: nothing for the upstream to do
        status, content, extra = 200, json.dumps({"schemas": [BULK_RESPONSE]}).encode(), []
    else:
        response = await client.request(
            scope["method"], url, content=forwarded or None, headers=headers
        )
        status, content = response.status_code, response.content
        extra = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() in ("location", "etag", "retry-after")
        ]
    if rewrite and 200 <= status < 300:
        content = _bulk_answer(content, refused, proxy.bulk_ids_dropped)
    return status, content, extra


def _refuse_in_bulk(
    body: bytes, refused: dict[str, int]
) -> tuple[bytes | None, list[dict[str, Any]]]:
    """The Bulk request without the operations the application refuses, and their answers."""
    request = json.loads(body)
    kept, answers = [], []
    for operation in request.get("Operations") or []:
        method = str(operation.get("method", "")).upper()
        if method not in refused:
            kept.append(operation)
            continue
        status = refused[method]
        error = json.loads(_scim_error(status))
        error["detail"] = f"{method} is not supported in Bulk (test proxy)"
        answer = {"method": method, "status": str(status), "response": error}
        if operation.get("bulkId"):
            answer["bulkId"] = operation["bulkId"]
        answers.append(answer)
    if not kept:
        return None, answers
    return json.dumps({**request, "Operations": kept}).encode(), answers


BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


def _bulk_answer(content: bytes, refused: list[dict[str, Any]], drop_ids: bool) -> bytes:
    response = json.loads(content)
    answers = list(response.get("Operations") or []) + refused
    if drop_ids:
        answers = [
            {k: v for k, v in a.items() if k != "bulkId" or a.get("method") == "POST"}
            for a in answers
        ]
    return json.dumps({**response, "Operations": answers}).encode()


def _scim_error(status: int) -> bytes:
    return json.dumps(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(status),
            "detail": f"injected by the test proxy ({status})",
        }
    ).encode()


def _proxy_app(proxy: Proxy, upstream_root: str) -> Any:
    client = httpx.AsyncClient(base_url=upstream_root, timeout=60)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        fault = proxy.next_fault()
        seconds = started = 0.0
        if fault is not None:
            status, headers = fault
            content, extra = _scim_error(status), list(headers.items())
        else:
            headers_in = {
                k.decode(): v.decode()
                for k, v in scope["headers"]
                if k.decode().lower() in ("authorization", "content-type", "accept")
            }
            url = scope["path"] + (f"?{query}" if query else "")
            started = time.perf_counter()
            status, content, extra = await _forward(proxy, client, scope, url, body, headers_in)
            seconds = time.perf_counter() - started
        parsed = json.loads(body) if body.strip() else None
        proxy.record(
            Recorded(
                scope["method"],
                scope["path"],
                parse_qs(query),
                len(body),
                parsed,
                status,
                _json_or_none(content),
                seconds,
                started,
            )
        )
        headers_out = [(b"content-type", b"application/scim+json")]
        headers_out += [(k.encode(), v.encode()) for k, v in extra]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": content})

    return app


def start_proxy(upstream_url: str) -> Proxy:
    """A recording proxy in front of the SCIM server at ``upstream_url`` (its base URL)."""
    parts = httpx.URL(upstream_url)
    upstream_root = f"{parts.scheme}://{parts.host}:{parts.port}"
    port = free_port()
    proxy = Proxy(url=f"http://127.0.0.1:{port}{parts.path.rstrip('/')}")
    config = uvicorn.Config(
        _proxy_app(proxy, upstream_root),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"scim-proxy-{port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the recording proxy did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    proxy.stop = stop
    return proxy


# --- the hub side: an org and an integration the ledger rows belong to ------------------------


def make_integration(database: Database, org_id: str | None = None) -> str:
    """A push integration row (the ledger's foreign key), in a fresh org unless one is given."""
    if org_id is None:
        org_id = orgs.create_org(database, f"Push {uuid.uuid4().hex[:10]}", actor="tests").id
    with database.write() as conn:
        return insert_integration(
            conn,
            {
                "org_id": org_id,
                "kind": "scim",
                "direction": "push",
                "name": f"app-{uuid.uuid4().hex[:8]}",
                "settings": {},
                "secrets": None,
                "matching_attribute": "userName",
                "mappings": {},
                "scoping": {},
                "interval_seconds": 2400,
                "auto_sync": False,
                "deletion_threshold": 500,
                "adopt_existing": False,
            },
            "Active",
        )
