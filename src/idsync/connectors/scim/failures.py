"""The SCIM connector's errors, filled in for one integration: every catalogue parameter, no token.

Each method returns (does not raise) the exception. Text that came from the
application passes :attr:`Failures.scrub` (:mod:`idsync.errors.scrub`) first: should it ever echo our token
back, the token still never reaches a message, a log line or the provisioning log.
"""

from __future__ import annotations

from typing import Any

from idsync.connectors.scim.settings import ScimSettings
from idsync.contract.errors import AccessDenied, Throttled, Unavailable, WatermarkExpired
from idsync.errors import catalogue
from idsync.errors.catalogue import IdsyncError
from idsync.errors.scrub import Scrubber


class Failures:
    def __init__(self, settings: ScimSettings) -> None:
        self._settings = settings
        self.scrub = Scrubber([settings.token])

    def _common(self) -> dict[str, str]:
        return {"app": self._settings.app, "integration": self._settings.integration}

    def unauthorized(self, upstream: str) -> AccessDenied:
        return AccessDenied(
            catalogue.SCIM_APP_UNAUTHORIZED,
            status=401,
            upstream=self.scrub(upstream),
            **self._common(),
        )

    def forbidden(self, operation: str, upstream: str) -> AccessDenied:
        return AccessDenied(
            catalogue.SCIM_APP_FORBIDDEN,
            status=403,
            operation=operation,
            upstream=self.scrub(upstream),
            **self._common(),
        )

    def not_scim(self, reason: str) -> AccessDenied:
        # A wrong URL is not a passing failure: quarantine (AccessDenied) rather than retry.
        return AccessDenied(
            catalogue.SCIM_APP_NOT_SCIM, status=404, reason=self.scrub(reason), **self._common()
        )

    def throttled(self, retry_after: float) -> Throttled:
        return Throttled(
            catalogue.SCIM_APP_THROTTLED, retry_after=round(retry_after, 3), **self._common()
        )

    def unavailable(self, reason: str) -> Unavailable:
        return Unavailable(
            catalogue.SCIM_APP_UNAVAILABLE, reason=self.scrub(reason), **self._common()
        )

    def watermark_expired(self, reason: str) -> WatermarkExpired:
        return WatermarkExpired(
            catalogue.WATERMARK_EXPIRED,
            system=self._settings.app,
            integration=self._settings.integration,
            reason=self.scrub(reason),
        )

    def rejected(
        self, operation: str, object_type: str, key: Any, status: int, scim_type: str, detail: str
    ) -> IdsyncError:
        return IdsyncError(
            catalogue.SCIM_APP_REJECTED,
            operation=operation,
            object_type=object_type,
            key=key,
            status=status,
            scim_type=f", scimType {scim_type}" if scim_type else "",
            detail=self.scrub(detail) or "no detail given",
            **self._common(),
        )

    def conflict(
        self, object_type: str, attribute: str, value: Any, other_id: str, detail: str
    ) -> IdsyncError:
        return IdsyncError(
            catalogue.SCIM_APP_CONFLICT,
            object_type=object_type,
            attribute=attribute,
            value=value,
            other_id=other_id,
            detail=self.scrub(detail) or "uniqueness",
            **self._common(),
        )

    def deleted(self, object_type: str, target_id: str, operation: str) -> IdsyncError:
        return IdsyncError(
            catalogue.SCIM_APP_DELETED,
            object_type=object_type,
            target_id=target_id,
            operation=operation,
            **self._common(),
        )
