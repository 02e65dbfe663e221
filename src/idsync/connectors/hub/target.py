"""The hub as a sync target: users, groups and memberships written in bulk.

A cycle exports thousands of objects a second, so this writes with set-based
statements (one ``executemany`` per batch) instead of going through the SCIM
request path object by object. It keeps the SCIM API's invariants: the same
document shape and indexed columns, a new ``meta.version`` on every change,
and a group's version bumped when its members change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from idsync.contract.checks import Health
from idsync.contract.protocols import Change, Desired, Existing, Exported, Membership
from idsync.contract.records import ObjectType
from idsync.errors.catalogue import (
    ORG_NOT_FOUND,
    OWNED_ELSEWHERE,
    RESOURCE_NOT_FOUND,
    UNIQUENESS,
    IdsyncError,
)
from idsync.scim.assign import assign, value_at
from idsync.scim.compare import fold
from idsync.scim.urns import ENTERPRISE_USER, GROUP, USER
from idsync.store.bulk import (
    COPY_FROM_ROWS,
    defer_member_index,
    document,
    insert_many,
    insert_tuples,
    insert_unless_taken,
    member_index_missing,
    restore_member_index,
    timestamp,
)
from idsync.store.database import Database
from idsync.store.ids import new_id
from idsync.store.lists import any_of
from idsync.store.models import GROUPS, MEMBERSHIPS, ORGS, USERS
from idsync.store.resources import group_columns, touch_groups, user_columns
from idsync.store.types import utcnow

_CHUNK = 500
_TABLES = {"user": USERS, "group": GROUPS}
_SCHEMAS = {"user": USER, "group": GROUP}
_KEY_COLUMNS = {"user": USERS.c.user_name_key, "group": GROUPS.c.display_name_key}
_MEMBER_COLUMNS = (("user", MEMBERSHIPS.c.user_id), ("group", MEMBERSHIPS.c.member_group_id))


def _held_members(conn: Connection, members: Sequence[Membership], column: sa.Column[Any]) -> int:
    """How many of ``members`` (of one kind, ``column``'s) the hub already holds."""
    m = MEMBERSHIPS
    wanted = {(group_id, member) for group_id, _, member in members}
    held = 0
    for chunk in _chunks(sorted({group_id for group_id, _ in wanted})):
        query = sa.select(m.c.group_id, column).where(m.c.group_id.in_(chunk), column.is_not(None))
        held += sum(1 for row in conn.execute(query) if (row[0], row[1]) in wanted)
    return held


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _columns(object_type: ObjectType, doc: dict[str, Any]) -> dict[str, Any]:
    """The indexed columns that mirror a document (as the SCIM API writes them)."""
    return user_columns(doc) if object_type == "user" else group_columns(doc)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, ...]:
    keys = set(before) | set(after)
    return tuple(sorted(k for k in keys if k != "schemas" and before.get(k) != after.get(k)))


class HubTarget:
    """Writes one integration's objects into one organisation of the hub."""

    shares_database = True

    def __init__(self, db: Database, org_id: str, integration_id: str) -> None:
        self.db = db
        self.org_id = org_id
        self.integration_id = integration_id

    def check(self) -> Health:
        """The organisation is still there, and what this integration provisions in it."""
        with self.db.read() as conn:
            org = conn.execute(sa.select(ORGS.c.id).where(ORGS.c.id == self.org_id)).first()
            owned = {
                object_type: conn.execute(
                    sa.select(sa.func.count()).where(
                        table.c.org_id == self.org_id,
                        table.c.owner_integration_id == self.integration_id,
                    )
                ).scalar_one()
                for object_type, table in _TABLES.items()
            }
        details = {"org": self.org_id, "users": int(owned["user"]), "groups": int(owned["group"])}
        return Health(
            org is not None, details if org else {"org": self.org_id, "code": ORG_NOT_FOUND.code}
        )

    def close(self) -> None:
        """The database belongs to the caller."""

    @contextmanager
    def phase(self, object_type: ObjectType, *, initial: bool) -> Iterator[None]:
        """A first load of the groups may defer the index of memberships by user (see
        ``defer_member_index``); otherwise a group phase first rebuilds it if a first load
        that was killed left it missing."""
        if object_type != "group":
            yield
            return
        deferred = False
        if initial:
            with self.db.write() as conn:
                deferred = defer_member_index(conn, self._users(conn))
        if not deferred:
            self._restore_member_index()
        try:
            yield
        finally:
            if deferred:
                self._restore_member_index()

    def _restore_member_index(self) -> None:
        with self.db.read() as conn:
            missing = member_index_missing(conn)
        if missing:
            with self.db.write() as conn:
                restore_member_index(conn)

    def _users(self, conn: Connection) -> int:
        count = sa.select(sa.func.count()).where(USERS.c.org_id == self.org_id)
        return int(conn.execute(count).scalar_one())

    # --- matching ------------------------------------------------------------------------

    def match(
        self, object_type: ObjectType, attribute: str, values: Sequence[str]
    ) -> dict[str, Existing]:
        table = _TABLES[object_type]
        if attribute == "externalId":  # caseExact (RFC 7643 §3.1)
            column, wanted = table.c.external_id, {v: v for v in values}
        else:  # userName (users) / displayName (groups): case-insensitive, as in the SCIM API
            column, wanted = _KEY_COLUMNS[object_type], {fold(v): v for v in values}
        found: dict[str, Existing] = {}
        with self.db.read() as conn:
            for chunk in _chunks(sorted(wanted)):
                query = sa.select(column, table.c.id, table.c.owner_integration_id).where(
                    table.c.org_id == self.org_id, any_of(column, chunk, self.db.dialect)
                )
                for key, target_id, owner in conn.execute(query):
                    found[wanted[key]] = Existing(target_id, owner)
        return found

    # --- objects ---------------------------------------------------------------------------

    def create(self, object_type: ObjectType, items: Sequence[Desired]) -> list[Exported]:
        if not items:
            return []
        now = timestamp(self.db.dialect, utcnow())
        rows: list[dict[str, Any]] = []
        results: list[Exported] = []
        for item in items:
            doc: dict[str, Any] = {"schemas": [_SCHEMAS[object_type]]}
            for target, value in item.assignments:
                assign(doc, target, value)
            if object_type == "user":
                doc.setdefault("active", True)
            target_id = new_id()  # as the SCIM API's ids
            row = _columns(object_type, doc)  # a new dict: completed here, not copied
            row["doc"] = document(doc)  # the driver takes JSON as text
            row["id"] = target_id
            row["org_id"] = self.org_id
            row["version"] = 1
            row["created_at"] = now
            row["updated_at"] = now
            row["owner_integration_id"] = self.integration_id
            rows.append(row)
            results.append(Exported(item.source_id, target_id, _changed({}, doc)))
        table = _TABLES[object_type]
        if not self.db.is_sqlite and len(rows) < COPY_FROM_ROWS:
            return self._create_unless_taken(table, rows, results)
        try:
            with self.db.write(may_fail=True) as conn:
                insert_many(conn, table.insert(), rows)
            return results
        except IntegrityError:
            # One object of the batch clashes (a userName or externalId taken since it
            # was matched): insert one by one so only that object fails.
            return [
                self._create_one(table, row, result)
                for row, result in zip(rows, results, strict=True)
            ]

    def _create_unless_taken(
        self, table: sa.Table, rows: list[dict[str, Any]], results: list[Exported]
    ) -> list[Exported]:
        """A few objects at once, with no savepoint: each that would take a userName,
        displayName or externalId another object holds is left out, and fails alone
        (``insert_unless_taken``)."""
        with self.db.write() as conn:
            inserted = insert_unless_taken(conn, table, rows)
        for row, result in zip(rows, results, strict=True):
            if row["id"] not in inserted:
                result.target_id = None
                result.error = _clash(table, row.get("user_name") or row.get("display_name"))
        return results

    def _create_one(self, table: sa.Table, row: dict[str, Any], result: Exported) -> Exported:
        try:
            with self.db.write(may_fail=True) as conn:
                insert_many(conn, table.insert(), [row])
        except IntegrityError:
            result.target_id = None
            result.error = _clash(table, row.get("user_name") or row.get("display_name"))
        return result

    def update(
        self,
        object_type: ObjectType,
        items: Sequence[tuple[str, Desired]],
        *,
        adopt: bool = False,
        dry_run: bool = False,
    ) -> list[Exported]:
        try:
            return self._update(object_type, items, adopt, dry_run)
        except IntegrityError:
            # As in create: one object's new userName, displayName or externalId is
            # another's; update one by one so only that object fails, not the cycle.
            return [self._update_one(object_type, item, adopt) for item in items]

    def _update_one(
        self, object_type: ObjectType, item: tuple[str, Desired], adopt: bool
    ) -> Exported:
        try:
            return self._update(object_type, [item], adopt, dry_run=False)[0]
        except IntegrityError:
            target_id, desired = item
            result = Exported(desired.source_id, target_id)
            result.error = _clash(_TABLES[object_type], desired.key)
            return result

    def _update(
        self,
        object_type: ObjectType,
        items: Sequence[tuple[str, Desired]],
        adopt: bool,
        dry_run: bool,
    ) -> list[Exported]:
        table = _TABLES[object_type]
        results: list[Exported] = []
        with self.db.read() if dry_run else self.db.write(may_fail=True) as conn:
            rows = self._rows(conn, table, [target_id for target_id, _ in items])
            now = utcnow()
            changes: list[dict[str, Any]] = []
            for target_id, item in items:
                result = Exported(item.source_id, target_id)
                results.append(result)
                row = rows.get(target_id)
                if (error := self._refusal(object_type, row, target_id, adopt)) is not None:
                    result.error = error
                    continue
                assert row is not None
                doc, result.changes = _assigned(row.doc, item.assignments)
                result.changed = _changed(row.doc, doc)
                owner_changes = row.owner_integration_id != self.integration_id
                if result.changed or owner_changes:
                    result.deactivated = row.doc.get("active", True) and not doc.get("active", True)
                    changes.append(self._change(object_type, row, doc, now))
            if not dry_run:
                self._write_changes(conn, table, changes)
        return results

    def _refusal(
        self, object_type: ObjectType, row: Any, target_id: str, adopt: bool
    ) -> IdsyncError | None:
        if row is None:
            return IdsyncError(RESOURCE_NOT_FOUND, resource_type=object_type, id=target_id)
        owner = row.owner_integration_id
        if owner == self.integration_id or (adopt and owner is None):
            return None
        return IdsyncError(
            OWNED_ELSEWHERE,
            object_type=object_type,
            key=row.doc.get("userName") or row.doc.get("displayName"),
            owner=f"integration {owner}" if owner else "no integration (it was created by hand)",
            where="in the hub",
            integration=self.integration_id,
        )

    def _change(
        self, object_type: ObjectType, row: Any, doc: dict[str, Any], now: Any
    ) -> dict[str, Any]:
        return {
            **_columns(object_type, doc),
            "_id": row.id,
            "version": row.version + 1,
            "updated_at": now,
            "owner_integration_id": self.integration_id,
        }

    @staticmethod
    def _write_changes(conn: Connection, table: sa.Table, changes: list[dict[str, Any]]) -> None:
        if not changes:
            return
        statement = table.update().where(table.c.id == sa.bindparam("_id"))
        conn.execute(statement, changes)

    def _rows(self, conn: Connection, table: sa.Table, ids: Sequence[str]) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        for chunk in _chunks(list(ids)):
            query = sa.select(table).where(table.c.org_id == self.org_id, table.c.id.in_(chunk))
            rows.update((row.id, row) for row in conn.execute(query))
        return rows

    def deactivate(self, object_type: ObjectType, target_ids: Sequence[str]) -> list[Exported]:
        items = [
            (target_id, Desired(target_id, (("active", False),), None)) for target_id in target_ids
        ]
        return self.update(object_type, items)

    def delete(self, object_type: ObjectType, target_ids: Sequence[str]) -> list[Exported]:
        table = _TABLES[object_type]
        results: list[Exported] = []
        with self.db.write() as conn:
            rows = self._rows(conn, table, target_ids)
            doomed = []
            for target_id in target_ids:
                result = Exported(target_id, target_id, ("deleted",))
                results.append(result)
                result.error = self._refusal(object_type, rows.get(target_id), target_id, False)
                if result.error is None:
                    doomed.append(target_id)
            self._touch_parents(conn, object_type, doomed)
            if object_type == "user":
                self._forget_managers(conn, doomed)
            for chunk in _chunks(doomed):
                conn.execute(
                    table.delete().where(table.c.org_id == self.org_id, table.c.id.in_(chunk))
                )
        return results

    def _forget_managers(self, conn: Connection, user_ids: Sequence[str]) -> None:
        """Users whose manager is deleted lose the reference (and get a new version), as
        with a SCIM DELETE: whoever owns them, a reference must never dangle."""
        manager = USERS.c.doc[(ENTERPRISE_USER, "manager", "value")].as_string()
        now = utcnow()
        for chunk in _chunks(list(user_ids)):
            query = sa.select(USERS).where(USERS.c.org_id == self.org_id, manager.in_(chunk))
            changes = []
            for row in conn.execute(query):
                doc = _copy(row.doc)
                assign(doc, f"{ENTERPRISE_USER}:manager", None)
                changes.append(
                    {"doc": doc, "_id": row.id, "version": row.version + 1, "updated_at": now}
                )
            self._write_changes(conn, USERS, changes)

    def _touch_parents(self, conn: Connection, object_type: ObjectType, ids: Sequence[str]) -> None:
        """Groups that lose a member get a new version, as with a SCIM DELETE."""
        column = MEMBERSHIPS.c.user_id if object_type == "user" else MEMBERSHIPS.c.member_group_id
        parents: set[str] = set()
        for chunk in _chunks(list(ids)):
            query = sa.select(MEMBERSHIPS.c.group_id).where(column.in_(chunk)).distinct()
            parents.update(conn.execute(query).scalars())
        touch_groups(conn, parents, utcnow())

    # --- references and members -------------------------------------------------------------

    def set_references(self, pairs: Sequence[tuple[str, str | None]]) -> None:
        wanted = dict(pairs)
        with self.db.write() as conn:
            rows = self._rows(conn, USERS, list(wanted))
            now = utcnow()
            changes = []
            for user_id, manager_id in wanted.items():
                row = rows.get(user_id)
                if row is None or row.owner_integration_id != self.integration_id:
                    continue
                doc = _copy(row.doc)
                value = {"value": manager_id} if manager_id and manager_id != user_id else None
                assign(doc, f"{ENTERPRISE_USER}:manager", value)
                if doc != row.doc:
                    changes.append(self._change("user", row, doc, now))
            self._write_changes(conn, USERS, changes)

    def add_members(
        self,
        members: Sequence[Membership],
        *,
        seen: str | None = None,
        fresh: Collection[str] = frozenset(),
    ) -> int:
        if not members:
            return 0
        held = {group_id for group_id, _, _ in members if group_id not in fresh}
        now = utcnow()
        with self.db.write() as conn:
            added = self._insert_each_kind(conn, members, seen, now, new=not held)
            # The groups created in this transaction keep version 1: no one saw them
            # without these members.
            touch_groups(conn, held, now)
        return added

    def _insert_each_kind(
        self,
        conn: Connection,
        members: Sequence[Membership],
        seen: str | None,
        now: Any,
        *,
        new: bool,
    ) -> int:
        """``members``' users and member groups, each kind into its column
        (``_insert_members``)."""
        added = 0
        for kind, column in _MEMBER_COLUMNS:
            of_kind = [m for m in members if m[1] == kind]
            added += self._insert_members(conn, of_kind, column, seen, now, new=new)
        return added

    def _member_rows(
        self, members: Sequence[Membership], column: sa.Column[Any], seen: str | None, now: Any
    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """The columns and rows of these memberships, in the table's column order, as the
        compiled INSERT lists them: the rows then go to the driver as built (see
        ``insert_tuples``), not copied again in that order."""
        names: tuple[str, ...] = (
            "org_id", "group_id", column.name, "created_at", "owner_integration_id",
        )  # fmt: skip
        created = timestamp(self.db.dialect, now)
        org, owner = self.org_id, self.integration_id
        if seen is None:
            return names, [(org, g, member, created, owner) for g, _, member in members]
        rows = [(org, g, member, created, owner, seen) for g, _, member in members]
        return (*names, "seen_cycle"), rows

    def _insert_members(
        self,
        conn: Connection,
        members: Sequence[Membership],
        column: sa.Column[Any],
        seen: str | None,
        now: Any,
        *,
        new: bool,
    ) -> int:
        """``new``: all of them are of groups created in this transaction, so none is in the
        table yet: they go in as they are, each once, with no conflict to handle (on
        PostgreSQL a COPY with no savepoint around it, two round trips fewer)."""
        if not members:
            return 0
        if new:
            names, rows = self._member_rows(list(dict.fromkeys(members)), column, seen, now)
            return insert_tuples(conn, MEMBERSHIPS.insert(), names, rows, expect_new=True)
        names, rows = self._member_rows(members, column, seen, now)
        dialect_insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
        statement = dialect_insert(MEMBERSHIPS)
        index = [MEMBERSHIPS.c.group_id, column]
        if seen is None:
            statement = statement.on_conflict_do_nothing(
                index_elements=index, index_where=column.is_not(None)
            )
            # Not marking them seen: a delta's additions or a first load's, new but for
            # a replayed page.
            return insert_tuples(conn, statement, names, rows, expect_new=True)
        statement = statement.on_conflict_do_update(
            index_elements=index,
            index_where=column.is_not(None),
            set_={"seen_cycle": statement.excluded.seen_cycle},
        )
        # The upsert counts the memberships it only marked seen: a full cycle that
        # changed nothing would report every membership as added.
        held = _held_members(conn, members, column)
        return max(insert_tuples(conn, statement, names, rows) - held, 0)

    def remove_members(self, members: Sequence[Membership]) -> int:
        if not members:
            return 0
        with self.db.write() as conn:
            removed = self._delete_members(conn, members)
            touch_groups(conn, {group_id for group_id, _, _ in members}, utcnow())
        return removed

    def _delete_members(self, conn: Connection, members: Sequence[Membership]) -> int:
        m = MEMBERSHIPS
        removed = 0
        for kind, column in (("user", m.c.user_id), ("group", m.c.member_group_id)):
            pairs = [{"g": g, "m": member} for g, t, member in members if t == kind]
            if not pairs:
                continue
            statement = m.delete().where(
                m.c.group_id == sa.bindparam("g"),
                column == sa.bindparam("m"),
                m.c.owner_integration_id == self.integration_id,
            )
            removed += max(conn.execute(statement, pairs).rowcount, 0)
        return removed

    def remove_memberships_of(self, object_type: ObjectType, member_ids: Sequence[str]) -> int:
        m = MEMBERSHIPS
        column = m.c.user_id if object_type == "user" else m.c.member_group_id
        removed = 0
        with self.db.write() as conn:
            for chunk in _chunks(list(member_ids)):
                mine = (column.in_(chunk), m.c.owner_integration_id == self.integration_id)
                groups = set(
                    conn.execute(sa.select(m.c.group_id).where(*mine).distinct()).scalars()
                )
                if groups:
                    removed += max(conn.execute(m.delete().where(*mine)).rowcount, 0)
                    touch_groups(conn, groups, utcnow())
        return removed

    def replace_members(
        self,
        lists: Mapping[str, Sequence[tuple[ObjectType, str]]],
        *,
        seen: str | None = None,
    ) -> tuple[int, int]:
        m = MEMBERSHIPS
        added = removed = 0
        now = utcnow()
        with self.db.write() as conn:
            for chunk in _chunks(list(lists)):
                mine = (m.c.group_id.in_(chunk), m.c.owner_integration_id == self.integration_id)
                current = {
                    (g, "user", u) if u is not None else (g, "group", mg)
                    for g, u, mg in conn.execute(
                        sa.select(m.c.group_id, m.c.user_id, m.c.member_group_id).where(*mine)
                    )
                }
                wanted = {(g, t, member) for g in chunk for t, member in lists[g]}
                new, gone = sorted(wanted - current), sorted(current - wanted)
                added += self._insert_each_kind(conn, new, seen, now, new=False)
                removed += self._delete_members(conn, gone)  # type: ignore[arg-type]
                if seen is not None:
                    conn.execute(m.update().where(*mine).values(seen_cycle=seen))
                touch_groups(conn, {g for g, _, _ in (*new, *gone)}, now)
        return added, removed

    def remove_unlisted_members(self, group_ids: Sequence[str], seen: str) -> int:
        m = MEMBERSHIPS
        removed = 0
        with self.db.write() as conn:
            for chunk in _chunks(list(group_ids)):
                stale = sa.select(m.c.group_id).where(
                    m.c.group_id.in_(chunk),
                    m.c.owner_integration_id == self.integration_id,
                    sa.or_(m.c.seen_cycle.is_(None), m.c.seen_cycle != seen),
                )
                touched = set(conn.execute(stale.distinct()).scalars())
                if not touched:
                    continue
                result = conn.execute(
                    m.delete().where(
                        m.c.group_id.in_(chunk),
                        m.c.owner_integration_id == self.integration_id,
                        sa.or_(m.c.seen_cycle.is_(None), m.c.seen_cycle != seen),
                    )
                )
                removed += max(result.rowcount, 0)
                touch_groups(conn, touched, utcnow())
        return removed


def _clash(table: sa.Table, value: Any) -> IdsyncError:
    """An object that would take a unique value another object of the org has."""
    return IdsyncError(
        UNIQUENESS,
        resource_type=table.name[:-1],
        attribute="userName or externalId" if table is USERS else "displayName or externalId",
        value=value,
    )


def _assigned(
    before: dict[str, Any], assignments: Sequence[tuple[str, Any]]
) -> tuple[dict[str, Any], tuple[Change, ...]]:
    """The document after the assignments, and what each changed, old → new."""
    doc = _copy(before)
    changes: list[Change] = []
    for target, value in assignments:
        old = value_at(doc, target)
        assign(doc, target, value)
        new = value_at(doc, target)
        if old != new:
            changes.append(Change(target, old, new))
    if not changes:  # a change no mapping path shows (a dropped empty value): name it whole
        changes = [Change(k, before.get(k), doc.get(k)) for k in _changed(before, doc)]
    return doc, tuple(changes)


def _copy(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough for ``assign`` (it replaces nested values, never mutates them)."""
    copied = dict(doc)
    if "schemas" in copied:
        copied["schemas"] = list(copied["schemas"])
    for key, value in copied.items():
        if isinstance(value, dict):
            copied[key] = dict(value)
    return copied
