"""The connector's errors, filled in for one integration: every catalogue parameter, no secrets.

Each method returns (does not raise) the exception, so call sites read
``raise failures.forbidden(…)``. Any text that came from the other side passes
:attr:`Failures.scrub` (:mod:`idsync.errors.scrub`) first: should a server ever echo our credentials back,
they still never reach a message, a log line or the provisioning log.
"""

from __future__ import annotations

from collections.abc import Callable

from idsync.connectors.entra.settings import EntraSettings
from idsync.contract.errors import AccessDenied, Throttled, Unavailable, WatermarkExpired
from idsync.errors import catalogue
from idsync.errors.scrub import Scrubber


class Failures:
    def __init__(self, settings: EntraSettings, secrets: Callable[[], list[str]]) -> None:
        self._settings = settings
        self.scrub = Scrubber(secrets)

    def _common(self) -> dict[str, str]:
        return {"system": self._settings.system, "integration": self._settings.integration}

    def unauthorized(self, status: int, upstream: str) -> AccessDenied:
        return AccessDenied(
            catalogue.SOURCE_UNAUTHORIZED, status=status, upstream=upstream, **self._common()
        )

    def forbidden(
        self, status: int, resource: str, permissions: str, upstream: str
    ) -> AccessDenied:
        return AccessDenied(
            catalogue.SOURCE_FORBIDDEN,
            status=status,
            resource=resource,
            permissions=permissions,
            upstream=upstream,
            **self._common(),
        )

    def service_principal_missing(self, status: int, upstream: str) -> AccessDenied:
        settings = self._settings
        return AccessDenied(
            catalogue.ENTRA_SERVICE_PRINCIPAL_MISSING,
            status=status,
            tenant=settings.tenant_id,
            client_id=settings.client_id,
            consent_url=settings.consent_url,
            upstream=upstream,
            integration=settings.integration,
        ).with_evidence(
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            consent_url=settings.consent_url,
        )

    def invalid_secret(self, status: int, upstream: str) -> AccessDenied:
        return self._credential_refused(catalogue.ENTRA_INVALID_SECRET, status, upstream)

    def invalid_certificate(self, status: int, upstream: str) -> AccessDenied:
        return self._credential_refused(catalogue.ENTRA_CERTIFICATE_REJECTED, status, upstream)

    def _credential_refused(
        self, entry: catalogue.ErrorCode, status: int, upstream: str
    ) -> AccessDenied:
        settings = self._settings
        return AccessDenied(
            entry,
            status=status,
            client_id=settings.client_id,
            upstream=upstream,
            integration=settings.integration,
        ).with_evidence(
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            thumbprint=settings.certificate.thumbprint if settings.certificate else None,
        )

    def unknown_application(self, status: int, what: str, upstream: str) -> AccessDenied:
        return AccessDenied(
            catalogue.ENTRA_UNKNOWN_APPLICATION,
            status=status,
            what=what,
            upstream=upstream,
            integration=self._settings.integration,
        )

    def throttled(self, retry_after: float) -> Throttled:
        return Throttled(
            catalogue.SOURCE_THROTTLED, retry_after=round(retry_after, 3), **self._common()
        )

    def unavailable(self, reason: str) -> Unavailable:
        return Unavailable(
            catalogue.SOURCE_UNAVAILABLE, reason=self.scrub(reason), **self._common()
        )

    def watermark_expired(self, reason: str) -> WatermarkExpired:
        return WatermarkExpired(
            catalogue.WATERMARK_EXPIRED, reason=self.scrub(reason), **self._common()
        )
