"""Bulk requests (RFC 7644 §3.7): many operations in one message, with bulkId references.

Each operation runs as the same request sent alone would (its own transaction:
RFC 7644 §3.7 makes no promise of atomicity). An operation that refers to a
resource another operation creates (``"bulkId:qwerty"`` in its path or data)
waits until that one has run, whatever their order in the message; references
that can never be resolved (circular, or to an operation that failed) fail with
409 rather than being guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from idsync.api.calls import Call, Reply, error_reply
from idsync.config import Settings
from idsync.errors.catalogue import (
    BULK_CIRCULAR,
    BULK_TOO_MANY_OPERATIONS,
    INVALID_SYNTAX,
    INVALID_VALUE,
    IdsyncError,
)
from idsync.hub.tenant import Tenant
from idsync.scim.schemas import BULK_REQUEST, BULK_RESPONSE

PREFIX = "bulkId:"
METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class _Operation:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any
    references: set[str]


@dataclass
class _Invalid:
    """An operation refused before anything ran (no method, bad path, …)."""

    index: int
    method: str
    bulk_id: str | None
    error: IdsyncError


def run_bulk(
    handle: Callable[[Tenant, Call], Reply], settings: Settings, tenant: Tenant, body: Any
) -> dict[str, Any]:
    pending, invalid, fail_on_errors = _read(body, settings)
    created: dict[str, str] = {}
    failed: set[str] = set()
    results = {bad.index: _result(bad.method, bad.bulk_id, bad.error, tenant) for bad in invalid}
    errors = len(invalid)
    while pending and not (fail_on_errors and errors >= fail_on_errors):
        ready = [op for op in pending if op.references <= set(created) | failed]
        if not ready:
            break
        for op in ready:
            if fail_on_errors and errors >= fail_on_errors:
                break
            pending.remove(op)
            result = _run(handle, tenant, op, created, failed)
            results[op.index] = result
            if int(result["status"]) >= 400:
                errors += 1
                if op.bulk_id:
                    failed.add(op.bulk_id)
    if not (fail_on_errors and errors >= fail_on_errors):
        for op in pending:
            missing = sorted(op.references - set(created) - failed)
            error = IdsyncError(
                BULK_CIRCULAR,
                bulk_id=op.bulk_id or f"#{op.index + 1}",
                reason=f"{', '.join(missing)} is never created, or the references are circular",
            )
            results[op.index] = _result(op.method, op.bulk_id, error, tenant)
    return {"schemas": [BULK_RESPONSE], "Operations": [results[i] for i in sorted(results)]}


def _read(body: Any, settings: Settings) -> tuple[list[_Operation], list[_Invalid], int]:
    if not isinstance(body, dict):
        raise IdsyncError(INVALID_SYNTAX, reason="a BulkRequest must be a JSON object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST.lower() not in {
        str(s).lower() for s in schemas
    }:
        raise IdsyncError(
            INVALID_SYNTAX, reason=f"a BulkRequest must list {BULK_REQUEST!r} in 'schemas'"
        )
    fields = {k.lower(): v for k, v in body.items()}
    raw_ops = fields.get("operations")
    if not isinstance(raw_ops, list):
        raise IdsyncError(INVALID_SYNTAX, reason="a BulkRequest needs an 'Operations' list")
    if len(raw_ops) > settings.bulk_max_operations:
        raise IdsyncError(
            BULK_TOO_MANY_OPERATIONS, count=len(raw_ops), limit=settings.bulk_max_operations
        )
    fail_on_errors = fields.get("failonerrors") or 0
    if (
        isinstance(fail_on_errors, bool)
        or not isinstance(fail_on_errors, int)
        or fail_on_errors < 0
    ):
        raise IdsyncError(INVALID_VALUE, reason="failOnErrors must be a positive integer")
    seen: set[str] = set()
    operations: list[_Operation] = []
    invalid: list[_Invalid] = []
    for index, raw in enumerate(raw_ops):
        try:
            op = _operation(index, raw)
            if op.bulk_id is not None:
                if op.bulk_id in seen:
                    raise IdsyncError(INVALID_VALUE, reason=f"bulkId {op.bulk_id!r} is used twice")
                seen.add(op.bulk_id)
            operations.append(op)
        except IdsyncError as exc:
            fields = {k.lower(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
            bulk_id = fields.get("bulkid")
            invalid.append(
                _Invalid(
                    index,
                    str(fields.get("method", "")).upper(),
                    bulk_id if isinstance(bulk_id, str) else None,
                    exc,
                )
            )
    return operations, invalid, fail_on_errors


def _operation(index: int, raw: Any) -> _Operation:
    if not isinstance(raw, dict):
        raise IdsyncError(INVALID_SYNTAX, reason=f"operation {index + 1} is not a JSON object")
    fields = {k.lower(): v for k, v in raw.items()}
    method = str(fields.get("method", "")).upper()
    if method not in METHODS:
        raise IdsyncError(
            INVALID_VALUE,
            reason=f"operation {index + 1}: method must be one of {', '.join(METHODS)}",
        )
    path = fields.get("path")
    if not isinstance(path, str) or not path.startswith("/") or "?" in path:
        raise IdsyncError(
            INVALID_VALUE,
            reason=f"operation {index + 1}: path must be like /Users or /Users/{{id}}",
        )
    bulk_id = fields.get("bulkid")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
        raise IdsyncError(
            INVALID_VALUE, reason=f"operation {index + 1}: bulkId must be a non-empty string"
        )
    if method == "POST" and bulk_id is None:
        raise IdsyncError(
            INVALID_VALUE, reason=f"operation {index + 1}: POST needs a bulkId (RFC 7644 §3.7)"
        )
    data = fields.get("data")
    if method != "DELETE" and not isinstance(data, dict):
        raise IdsyncError(INVALID_VALUE, reason=f"operation {index + 1}: {method} needs 'data'")
    version = fields.get("version")
    return _Operation(
        index,
        method,
        path,
        bulk_id,
        version if isinstance(version, str) else None,
        data,
        _references(path) | _references(data),
    )


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        if value.startswith(PREFIX):
            return {value[len(PREFIX) :]}
        if f"/{PREFIX}" in value:
            return {value.rsplit(f"/{PREFIX}", 1)[1].split("/")[0]}
        return set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _substitute(value: Any, created: dict[str, str]) -> Any:
    if isinstance(value, str):
        if value.startswith(PREFIX):
            return created.get(value[len(PREFIX) :], value)
        for bulk_id, resource_id in created.items():
            value = value.replace(f"/{PREFIX}{bulk_id}", f"/{resource_id}")
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, created) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, created) for v in value]
    return value


def _run(
    handle: Callable[[Tenant, Call], Reply],
    tenant: Tenant,
    op: _Operation,
    created: dict[str, str],
    failed: set[str],
) -> dict[str, Any]:
    broken = sorted(op.references & failed)
    if broken:
        error = IdsyncError(
            BULK_CIRCULAR,
            bulk_id=op.bulk_id or f"#{op.index + 1}",
            reason=f"the operation creating {', '.join(broken)} failed",
        )
        return _result(op.method, op.bulk_id, error, tenant)
    headers = {"if-match": op.version} if op.version else {}
    scoped = replace(tenant, warnings=[])
    reply = handle(
        scoped,
        Call(op.method, _substitute(op.path, created), {}, headers, _substitute(op.data, created)),
    )
    tenant.warnings.extend(scoped.warnings)
    result: dict[str, Any] = {"method": op.method}
    if op.bulk_id:
        result["bulkId"] = op.bulk_id
    if reply.status >= 400:
        result["status"] = str(reply.status)
        result["response"] = reply.body
        return result
    if reply.body is not None and "meta" in reply.body:
        result["location"] = reply.body["meta"].get("location")
    elif "Location" in reply.headers:
        result["location"] = reply.headers["Location"]
    if "ETag" in reply.headers:
        result["version"] = reply.headers["ETag"]
    if op.method == "POST" and op.bulk_id and reply.body is not None:
        created[op.bulk_id] = reply.body["id"]
    elif op.method != "POST" and "location" not in result:
        result["location"] = f"{tenant.base_url}{_substitute(op.path, created)}"
    result["status"] = str(reply.status)
    return result


def _result(method: str, bulk_id: str | None, error: IdsyncError, tenant: Tenant) -> dict[str, Any]:
    result: dict[str, Any] = {"method": method}
    if bulk_id:
        result["bulkId"] = bulk_id
    result["status"] = str(error.error.status)
    result["response"] = error_reply(error, tenant.tracking_id).body
    return result
