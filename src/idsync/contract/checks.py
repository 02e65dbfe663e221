"""What a connector says about itself when checked: credentials, permissions, reachability.

Validation and diagnosis read it; a check never reads or writes a user or group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idsync.contract.errors import ConnectorError, Throttled, Unavailable


@dataclass(frozen=True, slots=True)
class Health:
    """The outcome of ``check()``: ``ok``, and ``details`` as JSON (for ``--json`` and
    the console), e.g. the permissions a token carries or the application's capabilities."""

    ok: bool
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, exc: ConnectorError, **details: Any) -> Health:
        """A failed check, told as every connector tells it: the catalogue entry and
        whether the failure may pass by itself. Messages are already scrubbed."""
        return cls(
            False,
            {
                **details,
                "code": exc.error.code,
                "title": exc.error.title,
                "message": exc.message,
                "action": exc.action,
                "error": type(exc).__name__,
                "retryable": isinstance(exc, Throttled | Unavailable),
            },
        )
