"""A SCIM request and its reply, independent of HTTP (``/Bulk`` replays operations as calls)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idsync.api.errors import error_body, error_headers
from idsync.errors.catalogue import IdsyncError

JSON = dict[str, Any]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    """Relative to the org's SCIM root, e.g. ``/Users/2819c223``."""
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lowercased names."""
    body: Any = None
    body_error: IdsyncError | None = None
    """Why the body could not be read; raised only if a handler needs the body, so that a
    wrong method or path is reported as such (405/404) rather than as a bad body."""

    def json(self) -> Any:
        if self.body_error is not None:
            raise self.body_error
        return self.body

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]

    def param(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.params.items() if k.lower() == lowered), None)


@dataclass
class Reply:
    status: int
    body: JSON | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: IdsyncError | None = None
    warnings: list[str] = field(default_factory=list)
    work: dict[str, int] | None = None
    """What the request's PATCH operations cost (``idsync.scim.patch.PatchWork``), logged."""


def error_reply(error: IdsyncError, tracking_id: str | None) -> Reply:
    return Reply(
        error.error.status, error_body(error, tracking_id), error_headers(error), error=error
    )
