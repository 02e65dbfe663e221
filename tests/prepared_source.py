"""A directory that hands the engine prepared pages, for tests that need a page's exact
shape (an object twice in one read, a group split over pages) that no real source
gives on demand. The real engine, hub target and databases do the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from idsync.connectors.hub import HubTarget
from idsync.contract.protocols import Health
from idsync.contract.records import ObjectType, Page, ReadStart, SourceObject
from idsync.manage.integrations import default_mappings, get_integration
from idsync.store.database import Database
from idsync.sync.engine import Cycle, ProgressCallback
from tests.conftest import add_file_integration


class PreparedSource:
    """A ``Source`` whose reads yield the given pages, all at once: the read-ahead always
    has the next one, so every phase is one batch."""

    def __init__(self, pages: dict[str, list[Page]]) -> None:
        self.pages = pages

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        yield from self.pages.get(object_type, [])

    def read_one(self, object_type: ObjectType, source_id: str) -> SourceObject | None:
        return None

    def check(self) -> Health:
        raise NotImplementedError  # a cycle does not check its source

    def close(self) -> None:
        pass


def paged(objects: list[SourceObject], size: int) -> list[Page]:
    """``objects`` in pages of ``size``, the last with the read's watermark."""
    starts = range(0, len(objects), size)
    return [
        Page(tuple(objects[n : n + size]), resume=n, watermark="end" if n == starts[-1] else None)
        for n in starts
    ]


def hub_integration(database: Database, folder: Path) -> str:
    """An integration of a new org that writes to the hub (a file integration: its
    mappings take ``userName`` and ``displayName`` as they are)."""
    users = folder / "users.csv"
    users.write_text("id,userName\n")
    return add_file_integration(database, {"users": str(users)}, org_name="Prepared")


def prepared_cycle(
    database: Database,
    integration_id: str,
    source: PreparedSource,
    progress: ProgressCallback | None = None,
) -> Cycle:
    """The integration's next cycle, reading ``source`` into the hub."""
    record = get_integration(database, integration_id)
    return Cycle(
        database,
        record,
        source,
        HubTarget(database, record.org_id, record.id),
        defaults=default_mappings(record.kind, record.direction),
        progress=progress,
    )
