"""Microsoft Graph over HTTPS: authenticated GETs, retries, and Graph's errors turned into ours.

- Every request carries a fresh ``client-request-id`` (and asks Graph to echo it
  with ``return-client-request-id``); Graph's ``request-id`` and ours go into each
  error message, which is what Microsoft support asks for.
- 429, and 503 with ``Retry-After``: wait exactly as long as asked and try again
  (Microsoft Graph throttling guidance); 5xx, timeouts and resets: exponential
  backoff with jitter. Budgets come from ``EntraSettings.retry``.
- 401: the token is dropped and fetched once more (it may have been revoked or
  signed with a rotated key); a second 401 is ``AccessDenied``. 403 is
  ``AccessDenied`` at once, naming the permission the app lacks.
- 410, or a ``syncStateNotFound`` / ``resyncRequired`` code: the delta token
  expired ("Use delta query…", Synchronization reset / Token duration) and the
  caller must read everything again.
- Absolute URLs (``@odata.nextLink``, ``@odata.deltaLink``) are followed only on
  the configured Graph origin: the bearer token never goes to another host.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson

from idsync.connectors import retry
from idsync.connectors.entra.auth import TokenSource
from idsync.connectors.entra.failures import Failures
from idsync.connectors.entra.settings import EntraSettings
from idsync.connectors.tls import trust
from idsync.logs import get_logger

log = get_logger("idsync.connectors.entra")

JsonObject = dict[str, Any]
T = TypeVar("T")

# Graph error codes that mean "this delta token is no longer valid: resync" (Microsoft
# Graph error responses, code property); any 410 Gone means the same.
_RESYNC_CODES = frozenset(
    {"syncStateNotFound", "syncStateInvalid", "resyncRequired", "resyncApplyDifferences",
     "resyncUploadDifferences"}
)  # fmt: skip

# What each Graph collection is, and which application permission reads it (least
# privileged first, as in each API's Permissions table).
_RESOURCES: dict[str, tuple[str, str]] = {
    "users": ("users", "User.Read.All"),
    "groups": ("groups and their members", "GroupMember.Read.All or Group.Read.All"),
    "servicePrincipals": ("enterprise applications (service principals)", "Application.Read.All"),
    "auditLogs": ("the directory audit log", "AuditLog.Read.All"),
}


class NotFound(Exception):
    """Graph answered 404 for this object."""


class GivenToken:
    """A token handed in (an administrator's sign-in): nothing to acquire or refresh."""

    def __init__(self, token: str) -> None:
        self.current: str | None = token

    def token(self) -> str:
        assert self.current is not None
        return self.current

    def forget(self) -> None:
        """Nothing to drop or fetch again: a second refusal is final."""


class GraphClient:
    """A Graph v1.0 client for one integration. Not thread-safe; close() when done."""

    def __init__(
        self,
        settings: EntraSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        bearer: str | None = None,
    ) -> None:
        """``bearer``: a person's delegated token to use instead of the app's own."""
        self._settings = settings
        self._sleep = sleep
        self._origin = _origin(settings.graph_base)
        self._http = httpx.Client(
            verify=trust(settings.ca_file, settings.integration),
            timeout=settings.timeout,
            headers={"Accept": "application/json", "User-Agent": "idsync-entra-connector"},
            follow_redirects=False,  # a redirect could carry the token elsewhere
        )
        self.failures = Failures(settings, self._secrets)
        self._tokens: TokenSource | GivenToken = (
            GivenToken(bearer) if bearer else TokenSource(settings, self._http, self.failures)
        )

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        """An access token (acquired, or from msal's cache), with the same retries as a GET."""
        return self._with_retries(self._tokens.token)

    def owns(self, url: str) -> bool:
        """True if ``url`` is on the configured Graph origin (safe to send our token to)."""
        return _origin(url) == self._origin

    def get(
        self, target: str, params: Mapping[str, str] | None = None, *, page_size: int | None = None
    ) -> JsonObject:
        """GET a path (``/v1.0/…``) or a Graph link, with retries; the parsed JSON body.

        Raises :class:`NotFound` on 404, and the connector errors otherwise.
        """
        url = self._url(target)
        headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
        return self._with_retries(lambda: self._get_once(url, params, headers))

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        try:
            return retry.call(attempt, self._settings.retry, sleep=self._sleep, on_retry=_log_retry)
        except retry.GaveUp as gave_up:
            if gave_up.last.throttled:
                raise self.failures.throttled(gave_up.retry_after) from None
            reason = f"{gave_up.last.reason} (gave up after {gave_up.attempts} attempts)"
            raise self.failures.unavailable(reason) from None

    def _url(self, target: str) -> str:
        if target.startswith("/"):
            return f"{self._settings.graph_base}{target}"
        if not self.owns(target):
            raise self.failures.unavailable(
                f"Graph answered with a link to {_origin(target)!r}, not to the configured "
                f"Graph URL {self._origin!r}; idsync does not send its token there"
            )
        return target

    def _get_once(
        self, url: str, params: Mapping[str, str] | None, headers: dict[str, str]
    ) -> JsonObject:
        response, request_id = self._send(url, params, headers)
        if response.status_code == 401:
            # Once more with a new token: the cached one may have been revoked.
            self._tokens.forget()
            response, request_id = self._send(url, params, headers)
        if not response.is_success:
            raise self._failure(response, request_id)
        body = _json_or_none(response)
        if body is None:
            # A body cut short or garbled on the way: worth another try.
            raise retry.Retry(f"Graph answered HTTP {response.status_code} without a JSON object")
        return body

    def _send(
        self, url: str, params: Mapping[str, str] | None, headers: dict[str, str]
    ) -> tuple[httpx.Response, str]:
        request_id = str(uuid.uuid4())
        headers = {
            **headers,
            "Authorization": f"Bearer {self._tokens.token()}",
            "client-request-id": request_id,
            "return-client-request-id": "true",
        }
        where = f"GET {urlsplit(url).path}, client-request-id {request_id}"
        try:
            return self._http.get(url, params=params, headers=headers), request_id
        except httpx.TimeoutException as exc:
            raise retry.Retry(f"Graph timed out ({type(exc).__name__}; {where})") from exc
        except httpx.TransportError as exc:
            raise retry.Retry(f"Graph connection failed ({_describe(exc)}; {where})") from exc

    def _failure(self, response: httpx.Response, request_id: str) -> Exception:
        status = response.status_code
        error = _GraphError.of(response, request_id, self.failures.scrub)
        if status == 401:
            refused = self.failures.unauthorized(status, self.failures.scrub(error.upstream))
            return refused.with_evidence(**error.evidence(status, response))
        if status == 403:
            resource, permissions = _resource(response.request.url.path)
            upstream = self.failures.scrub(error.upstream)
            denied = self.failures.forbidden(status, resource, permissions, upstream)
            return denied.with_evidence(
                **error.evidence(status, response),
                resource=resource,
                needs=permissions,
                roles=token_roles(self._tokens.current),
                consent_url=self._settings.consent_url,
            )
        if status == 404:
            return NotFound(error.describe(status))
        if status == 410 or error.codes & _RESYNC_CODES:
            return self.failures.watermark_expired(f"Graph answered {error.describe(status)}")
        delay = retry.parse_retry_after(response.headers.get("Retry-After"))
        if status in (429, 509) or (status == 503 and delay is not None):
            return retry.Retry(error.describe(status), throttled=True, retry_after=delay)
        if status >= 500 and status != 501:
            # Backoff, but never sooner than a Retry-After the server sent along.
            return retry.Retry(f"Graph answered {error.describe(status)}", retry_after=delay)
        return self.failures.unavailable(f"Graph answered {error.describe(status)}")

    def _secrets(self) -> list[str]:
        certificate = self._settings.certificate
        return [
            self._settings.client_secret or "",
            certificate.private_key if certificate else "",
            self._tokens.current or "",
        ]


class _GraphError:
    """The parts of a Graph error body (``{"error": {"code", "message", "innerError"}}``) we report."""

    def __init__(self, codes: list[str], message: str, request_id: str, client_request_id: str):
        self.code = codes[0] if codes else ""
        self.codes = frozenset(codes)
        self.message = message
        self.request_id = request_id
        self.client_request_id = client_request_id

    @classmethod
    def of(
        cls, response: httpx.Response, client_request_id: str, scrub: Callable[[str], str]
    ) -> _GraphError:
        body = _json_or_none(response) or {}
        found = body.get("error")
        error: Mapping[str, Any] = found if isinstance(found, dict) else {}
        codes, inner = _codes(error)
        request_id = response.headers.get("request-id") or str(inner.get("request-id") or "")
        # Scrubbed before it is cut short, so no part of a secret survives.
        message = scrub(str(error.get("message") or ""))[:300]
        return cls(codes, message, request_id, client_request_id)

    def evidence(self, status: int, response: httpx.Response) -> dict[str, Any]:
        """The identifiers Microsoft support asks for, for diagnosis and debug info."""
        return {
            "endpoint": "graph",
            "status": status,
            "graph_code": self.code or None,
            "message": self.message or None,
            "request_id": self.request_id or None,
            "client_request_id": self.client_request_id,
            "date": response.headers.get("date"),
        }

    @property
    def upstream(self) -> str:
        """For the catalogue's ``upstream`` parameter: ", Graph <code>: <message>, request-id …"."""
        code = f"Graph {self.code}" if self.code else "Graph"
        text = f", {code}: {self.message}" if self.message else f", {code}"
        return f"{text}{self._ids()}"

    def describe(self, status: int) -> str:
        detail = f" {self.code}" if self.code else ""
        detail += f": {self.message}" if self.message else ""
        return f"HTTP {status}{detail}{self._ids()}"

    def _ids(self) -> str:
        ids = f", request-id {self.request_id}" if self.request_id else ""
        return f"{ids}, client-request-id {self.client_request_id}"


def _codes(error: Mapping[str, Any]) -> tuple[list[str], Mapping[str, Any]]:
    """Every code down the innerError chain ("loop through all the error codes")."""
    codes: list[str] = []
    node: Mapping[str, Any] = error
    inner: Mapping[str, Any] = {}
    for _ in range(8):
        if node.get("code"):
            codes.append(str(node["code"]))
        child = node.get("innerError") or node.get("innererror")
        if not isinstance(child, dict):
            break
        inner = node = child
    return codes, inner


def _json_or_none(response: httpx.Response) -> JsonObject | None:
    if not response.content and response.status_code == 204:
        return {}
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _resource(path: str) -> tuple[str, str]:
    segments = [segment for segment in path.split("/") if segment]
    collection = segments[1] if len(segments) > 1 else ""
    return _RESOURCES.get(collection, (path, "the permissions listed in the integration's setup"))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        return url
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _describe(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _log_retry(failure: retry.Retry, delay: float, attempt: int) -> None:
    log.info(
        "entra.retry",
        reason=failure.reason,
        throttled=failure.throttled,
        delay=round(delay, 3),
        attempt=attempt,
    )


def token_roles(token: str | None) -> list[str] | None:
    """The application permissions an access token carries (its ``roles`` claim): empty
    when admin consent was revoked. Read, not verified: Graph has accepted the token."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return [str(role) for role in roles] if isinstance(roles, list) else []
