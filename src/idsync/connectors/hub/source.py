"""The hub as a sync source: an organisation's users and groups, pushed to an application.

A push integration (an application reached over SCIM) reads the organisation's
own store. Reads go straight to the database in pages ordered by id, so a cycle
that stops resumes after the last id it applied. Incremental reads use the
indexed ``updated_at`` (every write bumps it, a group's too when its members
change) and end with the ids the organisation still holds, which is how
deletions are seen: the hub keeps no tombstones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.contract.checks import Health
from idsync.contract.records import MemberRef, ObjectType, Page, ReadStart, SourceObject
from idsync.scim.flatten import flatten_group, flatten_user
from idsync.store.database import Database
from idsync.store.models import GROUPS, MEMBERSHIPS, USERS
from idsync.store.types import utcnow

PAGE_SIZE = 1000
COMMIT_SLACK = timedelta(seconds=5)
"""Incremental reads start this long before the previous read did: a write that
stamped ``updated_at`` before that read began but committed after it is still seen
(re-reading an unchanged object is harmless: the engine finds its digest equal)."""

_TABLES = {"user": USERS, "group": GROUPS}


class HubSource:
    """Reads one organisation of the hub."""

    def __init__(self, db: Database, org_id: str, *, page_size: int = PAGE_SIZE) -> None:
        self.db = db
        self.org_id = org_id
        self.page_size = page_size

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        resume = start.resume or {}
        started = resume.get("started") or utcnow().isoformat()
        since = resume.get("since", start.watermark)
        after = resume.get("after", "")
        while True:
            with self.db.read() as conn:
                rows = self._rows(conn, object_type, after, since)
                objects = self._objects(conn, object_type, rows)
            if rows:
                after = rows[-1].id
            if len(rows) < self.page_size:
                present = None
                if since is not None:
                    with self.db.read() as conn:
                        present = self._ids(conn, object_type)
                yield Page(tuple(objects), watermark=started, present=present)
                return
            yield Page(tuple(objects), resume={"started": started, "since": since, "after": after})

    def read_one(self, object_type: ObjectType, source_id: str) -> SourceObject | None:
        table = _TABLES[object_type]
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(*_columns(object_type)).where(
                    table.c.org_id == self.org_id, table.c.id == source_id
                )
            ).all()
            objects = self._objects(conn, object_type, rows)
        return objects[0] if objects else None

    def check(self) -> Health:
        with self.db.read() as conn:
            users = conn.execute(
                sa.select(sa.func.count()).where(USERS.c.org_id == self.org_id)
            ).scalar_one()
        return Health(True, {"org": self.org_id, "users": int(users)})

    def close(self) -> None:
        """The database belongs to the caller."""

    # --- queries ------------------------------------------------------------------------

    def _rows(
        self, conn: Connection, object_type: ObjectType, after: str, since: str | None
    ) -> Sequence[Any]:
        table = _TABLES[object_type]
        query = sa.select(*_columns(object_type)).where(
            table.c.org_id == self.org_id, table.c.id > after
        )
        if since is not None:
            query = query.where(table.c.updated_at >= datetime.fromisoformat(since) - COMMIT_SLACK)
        return conn.execute(query.order_by(table.c.id).limit(self.page_size)).all()

    def _objects(
        self, conn: Connection, object_type: ObjectType, rows: Sequence[Any]
    ) -> list[SourceObject]:
        if object_type == "user":
            return [
                SourceObject("user", row.id, {**flatten_user(row.doc), "active": row.active})
                for row in rows
            ]
        members = self._members(conn, [row.id for row in rows])
        return [
            SourceObject(
                "group",
                row.id,
                flatten_group(row.doc),
                members_added=tuple(members.get(row.id, ())),
                members_complete=True,
            )
            for row in rows
        ]

    def _members(self, conn: Connection, group_ids: list[str]) -> dict[str, list[MemberRef]]:
        m = MEMBERSHIPS
        members: dict[str, list[MemberRef]] = {}
        if not group_ids:
            return members
        query = sa.select(m.c.group_id, m.c.user_id, m.c.member_group_id).where(
            m.c.group_id.in_(group_ids)
        )
        for group_id, user_id, member_group_id in conn.execute(query):
            ref = (
                MemberRef("user", user_id)
                if user_id is not None
                else MemberRef("group", member_group_id)
            )
            members.setdefault(group_id, []).append(ref)
        return members

    def _ids(self, conn: Connection, object_type: ObjectType) -> frozenset[str]:
        table = _TABLES[object_type]
        query = sa.select(table.c.id).where(table.c.org_id == self.org_id)
        return frozenset(conn.execute(query).scalars())


def _columns(object_type: ObjectType) -> tuple[Any, ...]:
    if object_type == "user":
        return (USERS.c.id, USERS.c.doc, USERS.c.active)
    return (GROUPS.c.id, GROUPS.c.doc)
