"""Failures a connector reports, classified by what the engine must do about them.

Each carries an entry of the error catalogue (code, message, action) filled in by
the connector, which knows the protocol's details (Graph error codes, AADSTS
numbers, LDAP result codes); the engine only looks at the class.
"""

from __future__ import annotations

from typing import Any, Self

from idsync.errors.catalogue import ErrorCode, IdsyncError


class ConnectorError(IdsyncError):
    """Any failure talking to a directory or application.

    ``evidence`` keeps what the other side said, as identifiers support can look up
    (Entra's AADSTS code, trace and correlation IDs and timestamp; Graph's request-id;
    an LDAP result code and diagnostic message; a SCIM application's status and error
    body), secrets removed. Diagnosis reads it; it is stored with the job and cycle.
    """

    def __init__(self, error: ErrorCode, /, **params: Any) -> None:
        super().__init__(error, **params)
        self.evidence: dict[str, Any] = {}

    def with_evidence(self, **items: Any) -> Self:
        """This error, with upstream identifiers added (None values are left out)."""
        self.evidence.update({k: v for k, v in items.items() if v is not None})
        return self


class AccessDenied(ConnectorError):
    """The other side refused our credentials or permissions (HTTP 401/403, LDAP bind failure).

    Never retried within a cycle and never read as "no objects": the job goes to
    Quarantine at once and nothing is exported.
    """

    def __init__(self, error: ErrorCode, /, *, status: int | None = None, **params: Any) -> None:
        super().__init__(error, status=status, **params)
        self.status = status


class Throttled(ConnectorError):
    """The other side asked us to slow down (HTTP 429, or 503 with Retry-After)."""

    def __init__(self, error: ErrorCode, /, *, retry_after: float, **params: Any) -> None:
        super().__init__(error, retry_after=retry_after, **params)
        self.retry_after = retry_after


class Unavailable(ConnectorError):
    """A failure that may pass: 5xx, timeout, connection reset. Retried with backoff."""


class WatermarkExpired(ConnectorError):
    """The source can no longer answer "what changed since": read everything again."""
