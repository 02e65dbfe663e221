"""SCIM 2.0 over HTTP for one integration: bearer auth, retries, and the application's errors.

- One ``httpx.Client`` (keep-alive, thread-safe) serves every request; the
  connector's thread pool shares it.
- 429, and 503 with ``Retry-After``: wait as long as asked, then try again; 5xx,
  timeouts, resets: exponential backoff with jitter (``ScimSettings.retry``).
  When the budget is spent: ``Throttled`` / ``Unavailable``.
- 401 and 403 are ``AccessDenied`` at once: never retried, never read as "empty".
- Any other status comes back as a :class:`Reply` for the caller to judge: a
  400 or 409 about one object is that object's failure, not the batch's.
- Bodies are serialised here, so their size is known before they are sent
  (Bulk's ``maxPayloadSize``, RFC 7644 §3.7.4).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from idsync.connectors import retry
from idsync.connectors.scim.failures import Failures
from idsync.connectors.scim.settings import ScimSettings
from idsync.connectors.tls import trust
from idsync.logs import get_logger

log = get_logger("idsync.connectors.scim")

JsonObject = dict[str, Any]
SCIM_JSON = "application/scim+json"


@dataclass(frozen=True, slots=True)
class Reply:
    """A response the caller judges: status, parsed JSON body ({} when none), headers."""

    status: int
    body: JsonObject
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def scim_type(self) -> str:
        return str(self.body.get("scimType") or "")

    @property
    def detail(self) -> str:
        # RFC 7644 §3.12: the error body's "detail"; cut short, the caller scrubs it.
        return str(self.body.get("detail") or self.body.get("message") or "")[:300]


def encode(body: Any) -> bytes:
    return orjson.dumps(body)


class ScimClient:
    """Requests to one SCIM service provider. Thread-safe; close() when done."""

    def __init__(
        self, settings: ScimSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self.failures = Failures(settings)
        self._sleep = sleep
        if not settings.tls_verify:
            log.warning(
                "scim.tls_verification_disabled",
                integration=settings.integration,
                url=settings.url,
                warning="TLS certificates are NOT verified: anyone on the path can read the "
                "token and every user record",
            )
        pool = settings.concurrency + 2
        self._http = httpx.Client(
            verify=_trust(settings),
            timeout=settings.timeout,
            headers={"Accept": SCIM_JSON, "User-Agent": "idsync-scim-connector"},
            follow_redirects=False,  # a redirect could carry the token elsewhere
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        return f"{self.settings.base}{path}"

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        return self.send("GET", path, params=params)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content: bytes | None = None,
    ) -> Reply:
        """One request with retries. ``path`` is relative to the base URL (``/Users/…``)."""
        payload = content if content is not None else (None if body is None else encode(body))
        return self._with_retries(lambda: self._once(method, path, params, payload))

    def _with_retries(self, attempt: Callable[[], Reply]) -> Reply:
        try:
            return retry.call(attempt, self.settings.retry, sleep=self._sleep, on_retry=_log_retry)
        except retry.GaveUp as gave_up:
            if gave_up.last.throttled:
                raise self.failures.throttled(gave_up.retry_after) from None
            reason = f"{gave_up.last.reason} (gave up after {gave_up.attempts} attempts)"
            raise self.failures.unavailable(reason) from None

    def _once(
        self, method: str, path: str, params: Mapping[str, str] | None, payload: bytes | None
    ) -> Reply:
        headers = {"Authorization": f"Bearer {self.settings.token}"}
        if payload is not None:
            headers["Content-Type"] = SCIM_JSON
        where = f"{method} {urlsplit(self.url(path)).path}"
        try:
            response = self._http.request(
                method, self.url(path), params=params, content=payload, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise retry.Retry(f"timed out ({type(exc).__name__}; {where})") from exc
        except httpx.TransportError as exc:
            raise retry.Retry(f"connection failed ({_describe(exc)}; {where})") from exc
        reply = Reply(response.status_code, _json(response), response.headers)
        self._judge(reply, method, path, where)
        return reply

    def _judge(self, reply: Reply, method: str, path: str, where: str) -> None:
        """Raise for what is not the caller's to handle: credentials, throttling, 5xx."""
        status = reply.status
        if status == 401:
            raise self.failures.unauthorized(_upstream(reply, where))
        if status == 403:
            raise self.failures.forbidden(_operation(method, path), _upstream(reply, where))
        delay = retry.parse_retry_after(reply.headers.get("Retry-After"))
        if status == 429 or (status == 503 and delay is not None):
            raise retry.Retry(f"HTTP {status} on {where}", throttled=True, retry_after=delay)
        if status >= 500 and status != 501:
            detail = self.failures.scrub(reply.detail)
            text = f"HTTP {status} on {where}" + (f": {detail}" if detail else "")
            raise retry.Retry(text, retry_after=delay)


def _json(response: httpx.Response) -> JsonObject:
    if not response.content:
        return {}
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _upstream(reply: Reply, where: str) -> str:
    detail = f": {reply.detail}" if reply.detail else ""
    return f", {where}{detail}"


def _operation(method: str, path: str) -> str:
    """What a 403 refused, in words: "to create users", "to change groups"…"""
    verbs = {"GET": "to read", "POST": "to create", "PATCH": "to change", "PUT": "to replace"}
    verb = verbs.get(method, "to delete")
    segments = [s for s in path.split("/") if s]
    collection = segments[0].lower() if segments else "resources"
    if collection == "bulk":
        return "bulk operations (POST /Bulk)"
    return f"{verb} {collection} ({method} /{segments[0] if segments else ''})"


def _trust(settings: ScimSettings) -> ssl.SSLContext | bool:
    return trust(settings.ca_file, settings.integration) if settings.tls_verify else False


def _describe(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _log_retry(failure: retry.Retry, delay: float, attempt: int) -> None:
    log.info(
        "scim.retry",
        reason=failure.reason,
        throttled=failure.throttled,
        delay=round(delay, 3),
        attempt=attempt,
    )
