"""The file source: users and groups from CSV, JSON or JSON Lines files an HR system drops.

A file has no change log, so "what changed" is answered by its digest: the last
page of every read carries ``{"sha256": …}`` of the file(s) as its watermark. An
incremental read whose files still have that digest is one empty page (the cost
of one hash); otherwise every row is read again and the last page lists the ids
still ``present``, from which the engine works out who was removed (under its
deletion threshold and shrink check). Pages resume by row index, and only while
the files are byte for byte the ones the cycle began with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from idsync.connectors.file import failures
from idsync.connectors.file.formats import RawRow, SourceFile, parse
from idsync.connectors.file.settings import FileSettings
from idsync.connectors.file.validate import Entry, Snapshot, build, first_problems
from idsync.contract.checks import Health
from idsync.contract.errors import ConnectorError
from idsync.contract.records import (
    OBJECT_TYPES,
    ObjectType,
    Page,
    ReadStart,
    Rejected,
    SourceObject,
)
from idsync.logs import get_logger

log = get_logger("idsync.connectors.file")

CHECK_SHOWS = 20
"""How many bad rows (and warnings) of each kind a check lists; the counts are exact."""


@dataclass(frozen=True, slots=True)
class _Files:
    """The configured files as read in one go, and the digest of exactly those bytes."""

    files: tuple[SourceFile, ...]
    digest: str


class FileSource:
    """A :class:`~idsync.contract.protocols.Source` reading one integration's files."""

    def __init__(self, settings: FileSettings) -> None:
        self.settings = settings
        self._snapshot: Snapshot | None = None

    # --- the Source protocol -------------------------------------------------------------

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        # A generator, like every source's: failures surface on the first page, not the call.
        if start.resume is not None:
            yield from self._resume(object_type, start.resume)
        elif start.watermark is not None:
            yield from self._since(object_type, self._watermark(start.watermark))
        else:
            yield from self._pages(self._parsed(self._files()), object_type, 0, incremental=False)

    def read_one(self, object_type: ObjectType, source_id: str) -> SourceObject | None:
        """The row with that id; a row that is there but bad raises its error, so on-demand
        provisioning says why rather than "no such object"."""
        snapshot = self._parsed(self._files())
        found = snapshot.objects[object_type].get(source_id)
        refused = snapshot.refused[object_type].get(source_id)
        if found is None and refused is not None:
            raise refused.error
        return found

    def check(self) -> Health:
        """The files exist and parse; the details count users, groups and bad rows."""
        try:
            snapshot = self._parsed(self._files())
        except ConnectorError as exc:
            return Health.failed(exc)
        return Health(True, self._report(snapshot))

    def close(self) -> None:
        self._snapshot = None

    def __enter__(self) -> FileSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def _resume(self, object_type: ObjectType, stored: Any) -> Iterator[Page]:
        position, incremental, digest = self._checkpoint(stored)
        snapshot = self._parsed(self._files())
        if snapshot.digest != digest:
            raise failures.changed(
                self.settings, "the file changed since the cycle read its first pages"
            )
        yield from self._pages(snapshot, object_type, position, incremental)

    def _since(self, object_type: ObjectType, digest: str) -> Iterator[Page]:
        files = self._files()
        if files.digest == digest:
            yield Page((), watermark={"sha256": digest})  # unchanged: nothing to parse
            return
        yield from self._pages(self._parsed(files), object_type, 0, incremental=True)

    def _pages(
        self, snapshot: Snapshot, object_type: ObjectType, position: int, incremental: bool
    ) -> Iterator[Page]:
        entries = snapshot.entries[object_type]
        if position > len(entries):
            raise failures.changed(self.settings, "the checkpoint points past the end of the file")
        size = self.settings.page_size
        while position + size < len(entries):
            chunk, position = entries[position : position + size], position + size
            checkpoint = {"sha256": snapshot.digest, "next": position, "incremental": incremental}
            yield _page(chunk, resume=checkpoint)
        present = snapshot.present[object_type] if incremental else None
        yield _page(entries[position:], watermark={"sha256": snapshot.digest}, present=present)

    def _files(self) -> _Files:
        """The bytes of every configured file, and their digest (one file: its plain sha256)."""
        settings = self.settings
        files = [_load(settings, settings.users, "user")]
        if settings.groups is not None:
            files.append(_load(settings, settings.groups, "group"))
        digests = [hashlib.sha256(file.data).hexdigest() for file in files]
        if len(digests) == 1:
            return _Files(tuple(files), digests[0])
        combined = hashlib.sha256("\n".join(digests).encode()).hexdigest()
        return _Files(tuple(files), combined)

    def _parsed(self, files: _Files) -> Snapshot:
        # Reading users then groups in one cycle parses the files once.
        if self._snapshot is not None and self._snapshot.digest == files.digest:
            return self._snapshot
        rows: list[RawRow] = []
        for file in files.files:
            rows.extend(parse(file, self.settings, first_index=len(rows)))
        snapshot = build(rows, self.settings, files.digest)
        for warning in snapshot.warnings:
            log.warning("file.row_warning", code=warning.error.code, detail=warning.message)
        self._snapshot = snapshot
        return snapshot

    # --- stored positions ----------------------------------------------------------------

    def _watermark(self, stored: Any) -> str:
        digest = stored.get("sha256") if isinstance(stored, Mapping) else None
        if not isinstance(digest, str):
            raise failures.changed(self.settings, "the saved watermark is not a file digest")
        return digest

    def _checkpoint(self, stored: Any) -> tuple[int, bool, str]:
        digest = self._watermark(stored)
        position = stored.get("next")
        incremental = stored.get("incremental", False)
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise failures.changed(self.settings, "the saved checkpoint has no row index")
        return position, incremental is True, digest

    # --- reporting -----------------------------------------------------------------------

    def _report(self, snapshot: Snapshot) -> dict[str, Any]:
        settings = self.settings
        counts = {kind: _count(snapshot.entries[kind]) for kind in OBJECT_TYPES}
        return {
            "users_file": settings.users,
            "groups_file": settings.groups,
            "format": {
                what: settings.format_of(path)
                for what, path in (("users", settings.users), ("groups", settings.groups))
                if path is not None
            },
            "sha256": snapshot.digest,
            "users": counts["user"][0],
            "groups": counts["group"][0],
            "bad_rows": {"user": counts["user"][1], "group": counts["group"][1]},
            "bad_row_samples": [
                _rejected_details(rejected)
                for rejected in first_problems(snapshot.entries, CHECK_SHOWS)
            ],
            "warnings": len(snapshot.warnings),
            "warning_samples": [w.message for w in snapshot.warnings[:CHECK_SHOWS]],
        }


def _load(settings: FileSettings, path: str, object_type: ObjectType) -> SourceFile:
    what = "users" if object_type == "user" else "groups"
    try:
        data = Path(path).read_bytes()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise failures.missing(settings, what, path) from exc
    except IsADirectoryError as exc:
        raise failures.unreadable(settings, what, path, "it is a directory") from exc
    except PermissionError as exc:
        raise failures.unreadable(
            settings, what, path, "permission denied to the user idsync runs as"
        ) from exc
    except OSError as exc:
        raise failures.unreadable(settings, what, path, exc.strerror or str(exc)) from exc
    return SourceFile(path, data, object_type, settings.format_of(path))


def _page(
    chunk: Sequence[Entry],
    *,
    resume: Any = None,
    watermark: Any = None,
    present: frozenset[str] | None = None,
) -> Page:
    objects = tuple(entry for entry in chunk if isinstance(entry, SourceObject))
    rejected = tuple(entry for entry in chunk if isinstance(entry, Rejected))
    return Page(objects, resume=resume, watermark=watermark, rejected=rejected, present=present)


def _count(entries: Sequence[Entry]) -> tuple[int, int]:
    good = sum(1 for entry in entries if isinstance(entry, SourceObject))
    return good, len(entries) - good


def _rejected_details(rejected: Rejected) -> dict[str, Any]:
    return {
        "object_type": rejected.object_type,
        "reference": rejected.reference,
        "code": rejected.error.error.code,
        "message": rejected.error.message,
    }
