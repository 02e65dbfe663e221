"""App-only access tokens for Microsoft Graph: the OAuth 2.0 client credentials flow, via msal.

msal keeps the token in its own cache and asks the token endpoint again only when
the token is about to expire; :meth:`TokenSource.forget` drops it after Graph
refused it (HTTP 401), so the next call gets a fresh one.

What the token endpoint says when it refuses (``AADSTS…`` codes in ``error_codes``,
see Microsoft Entra authentication and authorization error codes) is turned into
the catalogue entry an administrator can act on: the incident this product is
built around is AADSTS7000229, "the client application is missing service
principal in the tenant", after someone deleted the enterprise application.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
import msal
from msal.exceptions import MsalServiceError

from idsync.connectors import retry
from idsync.connectors.entra.failures import Failures
from idsync.connectors.entra.settings import EntraSettings
from idsync.connectors.retry import Retry
from idsync.contract.errors import AccessDenied

_AADSTS = re.compile(r"AADSTS(\d+)")
_SERVICE_PRINCIPAL_MISSING = 7000229
_BAD_SECRET = frozenset({7000215, 7000222})  # invalid secret; expired secret
# The client assertion (certificate): failed signature validation (its [Reason - …]
# says why: key not found, key expired, signature mismatch); outside its time range.
_BAD_CERTIFICATE = frozenset({700027, 700024})
_REASON = re.compile(r"\[Reason - ([^,\]]+)")
_UNKNOWN_APPLICATION = 700016
_UNKNOWN_TENANT = frozenset({90002, 900023})  # tenant not found; tenant id malformed
_TRANSIENT_OAUTH_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


class MsalHttp:
    """msal's minimal HTTP interface (``msal.oauth2cli.http.HttpClient``) over our httpx client.

    One client for Graph and the token endpoint: one TLS trust setting, one
    connection pool, httpx's exceptions everywhere. It remembers the status of the
    last token request, which msal's result does not carry, and how long msal will
    answer a failed one from its cache.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        self.last_status: int | None = None
        self.throttle_window: float | None = None

    def post(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> httpx.Response:
        if isinstance(data, str | bytes):
            response = self._client.post(url, params=params, content=data, headers=headers)
        else:
            # msal hands the client assertion of a certificate credential over as bytes,
            # which requests sends as they are and httpx would send as "b'…'".
            form = {k: v.decode() if isinstance(v, bytes) else v for k, v in (data or {}).items()}
            response = self._client.post(url, params=params, data=form, headers=headers)
        self.last_status = response.status_code
        self.throttle_window = _msal_throttle_window(response)
        return response

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> httpx.Response:
        return self._client.get(url, params=params, headers=headers)

    def close(self) -> None:
        """msal may close its client; the httpx client belongs to the Graph client."""


class TokenSource:
    """Gets (and caches) the app's access token for Graph."""

    def __init__(self, settings: EntraSettings, http: httpx.Client, failures: Failures) -> None:
        self._settings = settings
        self._http = MsalHttp(http)
        self._failures = failures
        self._app: msal.ConfidentialClientApplication | None = None
        self.current: str | None = None
        """The token last handed out (so error texts can be scrubbed of it)."""

    def token(self) -> str:
        """An access token; raises ``AccessDenied`` when refused, :class:`Retry` when it may pass."""
        result = self._acquire()
        token = result.get("access_token")
        if isinstance(token, str):
            self.current = token
            return token
        raise self._refusal(result)

    def forget(self) -> None:
        """Drop the cached token: Graph refused it (revoked, or signed for a stale key)."""
        if self._app is not None:
            self._app.remove_tokens_for_client()
        self.current = None

    def _acquire(self) -> dict[str, Any]:
        try:
            app = self._app or self._build()
            result = app.acquire_token_for_client(scopes=[self._settings.graph_scope])
        except httpx.TimeoutException as exc:
            raise Retry(f"the token endpoint timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Retry(f"the token endpoint could not be reached: {exc}") from exc
        except MsalServiceError as exc:
            # msal raises this for a 5xx from the token or discovery endpoint, and then
            # answers the same token request from its cache for a while: retrying any
            # sooner would only replay the failure.
            window = self._http.throttle_window
            raise Retry(f"the token endpoint failed: {exc}", retry_after=window) from exc
        except (ValueError, TypeError) as exc:
            # msal could not use the token endpoint's answer: not JSON (a proxy's error
            # page, a body cut short), or not an OAuth 2.0 error body (RFC 6749 §5.2). msal
            # keeps failed answers for its telemetry header and then trips over them on
            # every later request, so start over with a fresh application object.
            self._app = None
            raise self._unusable_answer() from exc
        return dict(result or {})

    def _unusable_answer(self) -> Retry:
        status = self._http.last_status
        return Retry(
            f"the token endpoint answered HTTP {status} without a JSON body",
            throttled=status == 429,
            retry_after=self._http.throttle_window,
        )

    def _build(self) -> msal.ConfidentialClientApplication:
        settings = self._settings
        try:
            self._app = msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=settings.client_credential(),
                authority=settings.authority_url,
                http_client=self._http,
                # Instance discovery asks Microsoft's endpoint whether a host is a
                # known authority: only meaningful for Microsoft's own hosts.
                instance_discovery=settings.uses_microsoft_authority,
            )
        except ValueError as exc:
            # msal's OIDC discovery of {authority}/{tenant}/v2.0/.well-known/… answered 4xx.
            raise self._discovery_refusal(str(exc)) from exc
        return self._app

    def _refusal(self, result: Mapping[str, Any]) -> Exception:
        if not isinstance(result.get("error"), str):
            # Not an OAuth 2.0 error body: msal's telemetry would trip over it on the
            # next request (see _acquire), so the next attempt starts with a new app.
            self._app = None
        error = str(result.get("error") or "")
        status = self._http.last_status or 401
        if status == 429 or status >= 500:
            # Throttled or failing, not refusing (whatever the body's error says): msal
            # hands back the error body of a 429, and replays it until Retry-After.
            reason = f"the token endpoint answered HTTP {status}: {_summary(result)}"
            window = self._http.throttle_window
            return Retry(self._failures.scrub(reason), throttled=status == 429, retry_after=window)
        if error in _TRANSIENT_OAUTH_ERRORS:
            summary = self._failures.scrub(_summary(result))
            return Retry(f"the token endpoint answered {error}: {summary}")
        codes = _aadsts_codes(result)
        refusal = self._refused(status, codes, _token_upstream(result, codes))
        return refusal.with_evidence(
            endpoint="token",
            status=status,
            error=error or None,
            aadsts=[f"AADSTS{code}" for code in sorted(codes)] or None,
            aadsts_reason=_reason(result),
            trace_id=result.get("trace_id"),
            correlation_id=result.get("correlation_id"),
            timestamp=result.get("timestamp"),
        )

    def _refused(self, status: int, codes: set[int], upstream: str) -> AccessDenied:
        scrub = self._failures.scrub
        if _SERVICE_PRINCIPAL_MISSING in codes:
            return self._failures.service_principal_missing(status, scrub(upstream))
        if codes & _BAD_SECRET:
            return self._failures.invalid_secret(status, scrub(upstream))
        if codes & _BAD_CERTIFICATE:
            return self._failures.invalid_certificate(status, scrub(upstream))
        if _UNKNOWN_APPLICATION in codes:
            what = f"application {self._settings.client_id} in tenant {self._settings.tenant_id}"
            return self._failures.unknown_application(status, what, scrub(upstream))
        if codes & _UNKNOWN_TENANT:
            return self._failures.unknown_application(
                status, f"tenant {self._settings.tenant_id}", scrub(upstream)
            )
        return self._failures.unauthorized(status, scrub(f", token endpoint {upstream}"))

    def _discovery_refusal(self, text: str) -> Exception:
        codes = {int(code) for code in _AADSTS.findall(text)}
        found = sorted(codes)
        upstream = f"AADSTS{found[0]}" if found else "OIDC discovery answered 4xx"
        return self._failures.unknown_application(
            400, f"tenant {self._settings.tenant_id} at {self._settings.authority}", upstream
        )


def _msal_throttle_window(response: httpx.Response) -> float | None:
    """How long msal replays this token response from its cache: Retry-After, else 5 s.

    msal's ``ThrottledHttpClient`` keeps 429/5xx answers of a confidential client for
    the Retry-After they carry, or 5 seconds without one.
    """
    if response.status_code != 429 and response.status_code < 500:
        return None
    return retry.parse_retry_after(response.headers.get("Retry-After")) or 5.0


def _aadsts_codes(result: Mapping[str, Any]) -> set[int]:
    codes = {int(code) for code in result.get("error_codes") or () if str(code).isdigit()}
    description = str(result.get("error_description") or "")
    return codes | {int(code) for code in _AADSTS.findall(description)}


def _reason(result: Mapping[str, Any]) -> str | None:
    """The ``[Reason - …]`` some AADSTS descriptions carry (e.g. "The key used is expired.")."""
    found = _REASON.search(str(result.get("error_description") or ""))
    return found[1].strip() if found else None


def _summary(result: Mapping[str, Any]) -> str:
    """The first sentence of the description: the rest repeats trace/correlation ids and time."""
    error = result.get("error")
    if isinstance(error, dict):  # a Graph-style body, {"error": {"code", "message"}}
        error = f"{error.get('code')}: {error.get('message')}"
    description = str(result.get("error_description") or error or "no details")
    return (description.split(" Trace ID:")[0].strip().splitlines() or ["no details"])[0]


def _token_upstream(result: Mapping[str, Any], codes: set[int]) -> str:
    parts = [_summary(result) if codes else f"{result.get('error')}: {_summary(result)}"]
    if result.get("trace_id"):
        parts.append(f"trace ID {result['trace_id']}")
    if result.get("correlation_id"):
        parts.append(f"correlation ID {result['correlation_id']}")
    return ", ".join(parts)
