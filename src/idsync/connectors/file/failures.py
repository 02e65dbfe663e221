"""The file connector's failures: a file the cycle cannot use at all, or one that changed under it.

Every one is a :class:`~idsync.contract.errors.ConnectorError`, so the engine stops
the cycle and changes nothing: a file that cannot be read is never taken for a
directory without users.
"""

from __future__ import annotations

from collections.abc import Sequence

from idsync.connectors.file.settings import FileSettings
from idsync.contract.errors import Unavailable, WatermarkExpired
from idsync.errors.catalogue import (
    FILE_BAD_HEADER,
    FILE_MISSING,
    FILE_UNREADABLE,
    WATERMARK_EXPIRED,
)


def missing(settings: FileSettings, what: str, path: str) -> Unavailable:
    return Unavailable(FILE_MISSING, what=what, path=path, integration=settings.integration)


def unreadable(settings: FileSettings, what: str, path: str, reason: str) -> Unavailable:
    return Unavailable(
        FILE_UNREADABLE, what=what, path=path, integration=settings.integration, reason=reason
    )


def bad_header(
    settings: FileSettings, what: str, path: str, reason: str, header: Sequence[str]
) -> Unavailable:
    shown = ", ".join(header) if header else "(none: the file is empty)"
    return Unavailable(
        FILE_BAD_HEADER,
        what=what,
        path=path,
        integration=settings.integration,
        reason=reason,
        header=shown,
    )


def changed(settings: FileSettings, reason: str) -> WatermarkExpired:
    return WatermarkExpired(
        WATERMARK_EXPIRED,
        system=settings.system,
        integration=settings.integration,
        reason=reason,
    )
