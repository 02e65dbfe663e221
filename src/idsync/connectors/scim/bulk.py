"""Many SCIM requests in few: ``/Bulk`` (RFC 7644 §3.7) when the application offers it.

A target hands :meth:`BulkSender.send_all` a list of requests (POST, PUT, PATCH,
DELETE) and gets one :class:`~idsync.connectors.scim.client.Reply` per request, in
order, whichever way each travelled, so the target judges every answer with the same
code whether it came alone or inside a Bulk response:

- Bulk requests stay within ``maxOperations`` and ``maxPayloadSize`` (§3.7.4, measured
  on the serialised request) and are sent ``concurrency`` at a time; ``failOnErrors``
  is never set, so one bad object does not stop the rest (§3.7.3). Bulk is for many
  small requests: a large one (a PATCH of hundreds of members) goes alone.
- Each operation's answer is found by its ``bulkId``, or, as §3.7.3 requires a
  ``bulkId`` only for POST, by its ``location`` and method.
- What a Bulk response did not settle is sent alone, through the client's retries:
  an operation it left out, one answered 401/403/429/5xx (so refused credentials,
  throttling and outages end as they do one by one), one whose method the
  application does not take in Bulk (405/501: that method is sent alone from then on).
- A Bulk request refused whole is sent again one by one. After 404/405/413/501 the
  application has no usable Bulk, after 400 it cannot read that kind of operation
  in Bulk: either way this sender (one cycle's target) stops asking, so the fallback
  costs one refused request, not one per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from idsync.connectors.scim.client import JsonObject, Reply, ScimClient, encode
from idsync.connectors.scim.discovery import Capabilities
from idsync.logs import get_logger
from idsync.scim.urns import BULK_REQUEST

log = get_logger("idsync.connectors.scim")

T = TypeVar("T")
R = TypeVar("R")

_BULK_GONE = frozenset({404, 405, 413, 501})
"""Answers to a whole Bulk request that mean "no Bulk here after all"."""
_METHOD_REFUSED = frozenset({405, 501})
"""An operation's answer meaning "not this method in Bulk" (RFC 7644 §3.12: 501 is an
operation the service provider does not support)."""
_SPREAD_MIN = 50
"""Operations per Bulk request below which a batch is not split to fill ``concurrency``:
a smaller request costs more in its own round trip than its share of the batch saves."""
_ALONE_BYTES = 8 * 1024
"""An operation this large (a PATCH of a few hundred members) is a request's worth of
work by itself: Bulk would save only its round trip, and make every other operation of
the Bulk request wait for it. It is sent alone."""
_IN_FLIGHT = 1000
"""Operations in flight at once across the concurrent Bulk requests, at most (above
``_SPREAD_MIN`` per request): an application works through concurrent requests side by
side, so each answer waits on all of them, and must still come within the timeout."""
_PREFIX = "idsync-"


@dataclass(frozen=True, slots=True)
class Request:
    """One SCIM request a target wants made: alone, or as one operation of a Bulk request.
    ``path`` is relative to the base URL (``/Users/{id}``), as a Bulk operation's is."""

    method: str
    path: str
    body: JsonObject | None = None

    def operation(self, bulk_id: str) -> JsonObject:
        """The Bulk operation (§3.7): DELETE has no ``data``; every operation carries a
        ``bulkId`` (required only for POST) so its answer can be found by it."""
        operation: JsonObject = {"method": self.method, "bulkId": bulk_id, "path": self.path}
        if self.body is not None:
            operation["data"] = self.body
        return operation


def in_parallel(work: Callable[[T], R], items: Sequence[T], concurrency: int) -> list[R]:
    """``work`` over ``items``, ``concurrency`` at a time, results in order. The first
    connector error (401, 403, throttled after retries) propagates."""
    workers = min(concurrency, len(items))
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idsync-scim") as pool:
        return list(pool.map(work, items))


class BulkSender:
    """Sends a target's requests through ``/Bulk`` where it can, alone where it must."""

    def __init__(self, client: ScimClient, capabilities: Callable[[], Capabilities]) -> None:
        self.client = client
        self._capabilities = capabilities
        self._lock = threading.Lock()
        self._broken = False
        self._refused: set[str] = set()
        """Methods the application does not take in Bulk (remembered, never asked again)."""

    def usable(self, method: str) -> bool:
        """Whether a request of this method may travel in a Bulk request."""
        if self.client.settings.compat.bulk != "auto" or not self._capabilities().bulk:
            return False
        with self._lock:
            return not self._broken and method not in self._refused

    def send_all(self, requests: Sequence[Request]) -> list[Reply]:
        """A reply per request, in order. Bulk only pays from two requests on."""
        replies: dict[int, Reply] = {}
        operations = self._operations(requests)
        if len(operations) > 1:
            chunks = list(self._chunks(operations))
            for settled in self._parallel(lambda chunk: self._send_chunk(requests, chunk), chunks):
                replies.update(settled)
        alone = [index for index in range(len(requests)) if index not in replies]
        sent = self._parallel(lambda index: self.send_alone(requests[index]), alone)
        replies.update(zip(alone, sent, strict=True))
        return [replies[index] for index in range(len(requests))]

    def send_alone(self, request: Request) -> Reply:
        return self.client.send(request.method, request.path, body=request.body)

    def _parallel(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return in_parallel(work, items, self.client.settings.concurrency)

    # --- building Bulk requests ------------------------------------------------------------

    def _operations(self, requests: Sequence[Request]) -> list[tuple[int, bytes]]:
        """(index, serialised Bulk operation) of the requests that may travel in Bulk."""
        operations = []
        for index, request in enumerate(requests):
            if self.usable(request.method):
                data = encode(request.operation(f"{_PREFIX}{index}"))
                if len(data) <= _ALONE_BYTES:
                    operations.append((index, data))
        return operations

    def _chunks(self, operations: list[tuple[int, bytes]]) -> Iterator[list[tuple[int, bytes]]]:
        """Operations in chunks within both advertised limits (§3.7.4), spread over
        ``concurrency`` requests when the batch is large enough to share."""
        capabilities = self._capabilities()
        concurrency = self.client.settings.concurrency
        spread = min(-(-len(operations) // concurrency), _IN_FLIGHT // concurrency)
        most = min(capabilities.bulk_max_operations, max(spread, _SPREAD_MIN))
        envelope = len(encode({"schemas": [BULK_REQUEST], "Operations": []}))
        chunk: list[tuple[int, bytes]] = []
        size = envelope
        for index, data in operations:
            if chunk and (
                len(chunk) >= most or size + len(data) + 1 > capabilities.bulk_max_payload
            ):
                yield chunk
                chunk, size = [], envelope
            chunk.append((index, data))
            size += len(data) + 1
        if chunk:
            yield chunk

    def _send_chunk(
        self, requests: Sequence[Request], chunk: list[tuple[int, bytes]]
    ) -> dict[int, Reply]:
        """The replies a Bulk request settled; the operations it did not are sent alone."""
        methods = {requests[index].method for index, _ in chunk}
        if not all(self.usable(method) for method in methods):
            return {}  # Bulk was found unusable while this chunk waited its turn
        content = b'{"schemas":["%s"],"Operations":[%s]}' % (
            BULK_REQUEST.encode(),
            b",".join(data for _, data in chunk),
        )
        if len(content) > self._capabilities().bulk_max_payload:
            return {}  # one operation alone is larger than the limit: sent alone
        reply = self.client.send("POST", "/Bulk", content=content)
        if not reply.ok:
            self._refused_whole(reply, methods)
            return {}
        answers = [op for op in reply.body.get("Operations") or [] if isinstance(op, dict)]
        settled: dict[int, Reply] = {}
        for index, answer in _match([i for i, _ in chunk], requests, answers).items():
            found = self._settled(requests[index], answer)
            if found is not None:
                settled[index] = found
        return settled

    # --- reading Bulk responses ------------------------------------------------------------

    def _settled(self, request: Request, answer: JsonObject) -> Reply | None:
        """The reply an operation's answer stands for, or None when it must be sent alone."""
        status = _status(answer.get("status"))
        response = answer.get("response")
        body: JsonObject = response if isinstance(response, dict) else {}
        if status is None or _client_must_judge(status):
            return None
        if status in _METHOD_REFUSED:
            self._refuse(request.method, status, Reply(status, body).detail)
            return None
        location = answer.get("location")
        headers = {"Location": location} if isinstance(location, str) and location else {}
        return Reply(status, body, headers)

    def _refused_whole(self, reply: Reply, methods: Iterable[str]) -> None:
        detail = self.client.failures.scrub(reply.detail)
        if reply.status in _BULK_GONE:
            with self._lock:
                self._broken = True
            log.warning(
                "scim.bulk_unusable",
                integration=self.client.settings.integration,
                status=reply.status,
                detail=detail,
            )
        elif reply.status == 400:
            for method in sorted(methods):
                self._refuse(method, reply.status, reply.detail)

    def _refuse(self, method: str, status: int, detail: str) -> None:
        with self._lock:
            if method in self._refused:
                return
            self._refused.add(method)
        log.warning(
            "scim.bulk_method_unusable",
            integration=self.client.settings.integration,
            method=method,
            status=status,
            detail=self.client.failures.scrub(detail),
            reason=f"{method} requests are sent one by one from now on",
        )


def _match(
    indexes: Sequence[int], requests: Sequence[Request], answers: list[JsonObject]
) -> dict[int, JsonObject]:
    """Each operation's answer: by ``bulkId``; else (only POST must carry one, §3.7.3) the
    first unclaimed answer with the operation's method and location."""
    by_id: dict[str, JsonObject] = {}
    loose: list[JsonObject] = []
    for answer in answers:
        bulk_id = answer.get("bulkId")
        if isinstance(bulk_id, str) and bulk_id.startswith(_PREFIX) and bulk_id not in by_id:
            by_id[bulk_id] = answer
        else:
            loose.append(answer)
    matched: dict[int, JsonObject] = {}
    for index in indexes:
        found = by_id.get(f"{_PREFIX}{index}") or _take_by_location(loose, requests[index])
        if found is not None:
            matched[index] = found
    return matched


def _take_by_location(loose: list[JsonObject], request: Request) -> JsonObject | None:
    if request.method == "POST":
        return None  # its location is the new resource's, unknown beforehand
    for position, answer in enumerate(loose):
        method = str(answer.get("method") or request.method).upper()
        location = answer.get("location")
        if method != request.method or not isinstance(location, str):
            continue
        if urlsplit(location).path.rstrip("/").endswith(request.path.rstrip("/")):
            return loose.pop(position)
    return None


def _status(value: Any) -> int | None:
    """An operation's HTTP status: a string per §3.7.3 ("201"), a number from some servers,
    or ``{"code": …}`` as in SCIM 1.1; None when it is none of these."""
    if isinstance(value, dict):
        value = value.get("code")
    try:
        status = int(value)
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


def _client_must_judge(status: int) -> bool:
    """Answers the one-by-one path acts on before any object sees them: credentials
    refused (AccessDenied), throttling and outages (waited out, retried, then reported)."""
    return status in (401, 403, 429) or (status >= 500 and status != 501)
