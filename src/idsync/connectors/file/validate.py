"""From raw rows to source objects: every row is checked whole before anything of it is used.

Two passes: the first collects the ids every row claims (so a manager or a group
member can be found wherever it is in the files, and a duplicate names the line
that claimed the id first); the second turns each row into a
:class:`~idsync.contract.records.SourceObject`, or into a
:class:`~idsync.contract.records.Rejected` carrying the first thing wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idsync.connectors.file.formats import RawRow, undecodable
from idsync.connectors.file.settings import CANONICAL, REQUIRED, FileSettings
from idsync.contract.records import OBJECT_TYPES, MemberRef, ObjectType, Rejected, SourceObject
from idsync.errors.catalogue import (
    FILE_ROW_DUPLICATE_ID,
    FILE_ROW_INVALID_VALUE,
    FILE_ROW_MALFORMED,
    FILE_ROW_MISSING_VALUE,
    FILE_ROW_NO_ID,
    FILE_ROW_UNDECODABLE,
    FILE_ROW_UNKNOWN_MEMBERS,
    FILE_UNKNOWN_MANAGER,
    ErrorCode,
    IdsyncError,
)

Entry = SourceObject | Rejected

_TRUE = frozenset({"true", "yes", "1", ""})
_FALSE = frozenset({"false", "no", "0"})
_BOOLEAN_HINT = "Write true/false, yes/no or 1/0 (empty means enabled)."


@dataclass(slots=True)
class Snapshot:
    """Everything one version of the files says, by object type, in file order."""

    digest: str
    entries: dict[ObjectType, list[Entry]] = field(
        default_factory=lambda: {kind: [] for kind in OBJECT_TYPES}
    )
    objects: dict[ObjectType, dict[str, SourceObject]] = field(
        default_factory=lambda: {kind: {} for kind in OBJECT_TYPES}
    )
    refused: dict[ObjectType, dict[str, Rejected]] = field(
        default_factory=lambda: {kind: {} for kind in OBJECT_TYPES}
    )
    """Rejected rows that carry an id, by id (the first such row of each id)."""
    present: dict[ObjectType, frozenset[str]] = field(default_factory=dict)
    """Every id a row of the type claims, rejected rows included (see :func:`build`)."""
    warnings: list[IdsyncError] = field(default_factory=list)
    """Rows applied with something dropped (a manager not in the file)."""


class _Bad(Exception):
    """The first thing wrong with a row: the catalogue entry and its parameters."""

    def __init__(self, error: ErrorCode, **params: Any) -> None:
        super().__init__(error.code)
        self.error, self.params = error, params


@dataclass(frozen=True, slots=True)
class _Claim:
    index: int
    line: int


def build(rows: Sequence[RawRow], settings: FileSettings, digest: str) -> Snapshot:
    """Validate every row. ``present`` holds the ids of rejected rows too: a row skipped for a
    typo is still in the file, and must not be taken for a user who left."""
    row_ids = [_id_or_none(row, settings) for row in rows]
    claims = _claims(rows, row_ids)
    snapshot = Snapshot(digest)
    snapshot.present = {kind: frozenset(claims[kind]) for kind in OBJECT_TYPES}
    checker = _Checker(settings, claims, snapshot.warnings)
    for row, row_id in zip(rows, row_ids, strict=True):
        entry = checker.entry(row)
        snapshot.entries[row.object_type].append(entry)
        if isinstance(entry, SourceObject):
            snapshot.objects[row.object_type][entry.source_id] = entry
        elif row_id is not None:
            snapshot.refused[row.object_type].setdefault(row_id, entry)
    return snapshot


def _claims(
    rows: Sequence[RawRow], row_ids: Sequence[str | None]
) -> dict[ObjectType, dict[str, _Claim]]:
    claims: dict[ObjectType, dict[str, _Claim]] = {kind: {} for kind in OBJECT_TYPES}
    for row, row_id in zip(rows, row_ids, strict=True):
        if row_id is not None:
            claims[row.object_type].setdefault(row_id, _Claim(row.index, row.line))
    return claims


def _id_or_none(row: RawRow, settings: FileSettings) -> str | None:
    try:
        return _row_id(row, settings)
    except _Bad:
        return None


def _row_id(row: RawRow, settings: FileSettings) -> str | None:
    value = row.values.get(settings.id_column)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # JSON ids may be numbers; the hub keeps them as text
    if value is None or (isinstance(value, str) and not undecodable(value)):
        return (value or "").strip() or None
    raise _Bad(
        FILE_ROW_INVALID_VALUE,
        id=str(value),
        column=settings.id_column,
        reason=f"{value!r} is not text or a whole number",
        hint="Give each row an id as text.",
    )


class _Checker:
    def __init__(
        self,
        settings: FileSettings,
        claims: dict[ObjectType, dict[str, _Claim]],
        warnings: list[IdsyncError],
    ) -> None:
        self.settings, self.claims, self.warnings = settings, claims, warnings
        # Per type: (canonical name, header) pairs, and the headers extras must not reuse.
        self.headers = {
            kind: [(name, settings.header(name)) for name in CANONICAL[kind] if name != "members"]
            for kind in OBJECT_TYPES
        }
        self.taken = {
            kind: {settings.id_column, *CANONICAL[kind]}
            | {settings.header(name) for name in CANONICAL[kind]}
            for kind in OBJECT_TYPES
        }

    def entry(self, row: RawRow) -> Entry:
        try:
            return self._object(row)
        except _Bad as bad:
            params = {"file": row.file, "reference": row.reference, "object_type": row.object_type}
            # A bad row of a known object keeps what was provisioned from it (the engine
            # must not read a typo as the object's removal); a duplicate is not that object.
            known = None if bad.error is FILE_ROW_DUPLICATE_ID else _id_or_none(row, self.settings)
            return Rejected(
                row.object_type,
                row.reference,
                IdsyncError(bad.error, **{**params, **bad.params}),
                source_id=known,
            )

    def _object(self, row: RawRow) -> SourceObject:
        if row.problem is not None:
            raise _Bad(FILE_ROW_MALFORMED, reason=row.problem)
        if row.undecodable:
            raise _Bad(FILE_ROW_UNDECODABLE, encoding=self.settings.encoding)
        row_id = _row_id(row, self.settings)
        if row_id is None:
            raise _Bad(FILE_ROW_NO_ID, column=self.settings.id_column)
        first = self.claims[row.object_type][row_id]
        if first.index != row.index:
            raise _Bad(FILE_ROW_DUPLICATE_ID, id=row_id, first_line=first.line)
        attributes = self._attributes(row, row_id)
        if row.object_type == "user":
            return SourceObject("user", row_id, attributes)
        return self._group(row, row_id, attributes)

    # --- attributes ---------------------------------------------------------------------

    def _attributes(self, row: RawRow, row_id: str) -> dict[str, Any]:
        kind = row.object_type
        attributes: dict[str, Any] = {}
        for name, header in self.headers[kind]:
            if header in row.values:
                attributes[name] = self._canonical(row_id, name, row.values[header])
        required = REQUIRED[kind]
        if not attributes.get(required):
            raise _Bad(
                FILE_ROW_MISSING_VALUE,
                id=row_id,
                attribute=required,
                column=self.settings.header(required),
            )
        attributes.update(self._extras(row))
        if kind == "user":
            self._check_manager(row, row_id, attributes)
        return attributes

    def _canonical(self, row_id: str, name: str, value: Any) -> Any:
        if name == "enabled":
            return self._enabled(row_id, value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # an employeeId or phone number written as a JSON number
        if value is None or isinstance(value, str):
            return (value or "").strip() or None  # an empty cell clears the attribute
        raise _Bad(
            FILE_ROW_INVALID_VALUE,
            id=row_id,
            column=self.settings.header(name),
            reason=f"{value!r} is not text",
            hint=f"Write {name} as text.",
        )

    def _enabled(self, row_id: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = "" if value is None else str(value).strip().lower()
        if isinstance(value, str | int) and text in _TRUE | _FALSE:
            return text in _TRUE
        raise _Bad(
            FILE_ROW_INVALID_VALUE,
            id=row_id,
            column=self.settings.header("enabled"),
            reason=f"{value!r} is not a yes/no value",
            hint=_BOOLEAN_HINT,
        )

    def _extras(self, row: RawRow) -> dict[str, Any]:
        """Columns idsync does not know pass through under their header, for custom mappings."""
        taken = self.taken[row.object_type]
        return {
            header: None if value == "" else value
            for header, value in row.values.items()
            if header not in taken
        }

    def _check_manager(self, row: RawRow, row_id: str, attributes: dict[str, Any]) -> None:
        # A manager who is not in the file cannot be pointed at: the user is applied with
        # no manager (rather than skipped for someone else's absence), and a warning says so.
        manager = attributes.get("manager")
        if manager is None or manager in self.claims["user"]:
            return
        attributes["manager"] = None
        self.warnings.append(
            IdsyncError(
                FILE_UNKNOWN_MANAGER,
                file=row.file,
                reference=row.reference,
                id=row_id,
                manager=manager,
            )
        )

    # --- groups -------------------------------------------------------------------------

    def _group(self, row: RawRow, row_id: str, attributes: dict[str, Any]) -> SourceObject:
        header = self.settings.header("members")
        if header not in row.values:
            # A JSON group without "members": its memberships are not managed from the file.
            return SourceObject("group", row_id, attributes)
        ids = self._member_ids(row_id, row.values[header])
        self._check_unknown(row_id, ids)
        members = tuple(self._member(row_id, member) for member in ids)
        return SourceObject(
            "group", row_id, attributes, members_added=members, members_complete=True
        )

    def _member_ids(self, row_id: str, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            pieces: list[Any] = value.split(self.settings.members_separator)
        elif isinstance(value, list):
            pieces = value
        else:
            pieces = [None]  # refused just below, with the value shown
        if not all(
            isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in pieces
        ):
            raise _Bad(
                FILE_ROW_INVALID_VALUE,
                id=row_id,
                column=self.settings.header("members"),
                reason=f"{value!r} is not a list of ids",
                hint=f'List the members\' ids, separated by "{self.settings.members_separator}".',
            )
        stripped = (str(piece).strip() for piece in pieces)
        return list(dict.fromkeys(piece for piece in stripped if piece))  # once each, in order

    def _check_unknown(self, row_id: str, ids: list[str]) -> None:
        unknown = [m for m in ids if m not in self.claims["user"] and m not in self.claims["group"]]
        if unknown:
            raise _Bad(FILE_ROW_UNKNOWN_MEMBERS, id=row_id, unknown=", ".join(unknown))

    def _member(self, row_id: str, member: str) -> MemberRef:
        as_user, as_group = member in self.claims["user"], member in self.claims["group"]
        if member == row_id and as_group:
            self._invalid_member(row_id, f"the group lists itself ({member!r})")
        if as_user and as_group:
            self._invalid_member(
                row_id, f"{member!r} is the id of both a user and a group, so it is ambiguous"
            )
        return MemberRef("user" if as_user else "group", member)

    def _invalid_member(self, row_id: str, reason: str) -> None:
        raise _Bad(
            FILE_ROW_INVALID_VALUE,
            id=row_id,
            column=self.settings.header("members"),
            reason=reason,
            hint="Give users and groups ids that differ, and never make a group its own member.",
        )


def first_problems(entries: Mapping[ObjectType, Sequence[Entry]], limit: int) -> list[Rejected]:
    """The first ``limit`` rejected rows of each type, for a check's report."""
    found: list[Rejected] = []
    for kind in OBJECT_TYPES:
        rejected = [entry for entry in entries[kind] if isinstance(entry, Rejected)]
        found.extend(rejected[:limit])
    return found
