"""What a push integration remembers about a SCIM application: the ledger.

Three tables, all keyed by the integration first:

- ``push_objects``: each object the integration created or adopted, with the
  assignments last sent. An update diffs against them, so it PATCHes only what
  changed and never reads the object back.
- ``push_members``: each membership the integration added. Adds go out only for
  pairs not in it, removes only for pairs in it: the application's member lists
  are never read, and a one-member change costs one small PATCH.
- ``push_creating``: the keys of creates sent and not yet answered. A process that
  dies in between leaves them, so the next cycle knows the objects it finds by those
  keys (or its own create of them is refused for) as its own, instead of as made by
  hand.

Set-based statements in chunks, as in ``sync_state``: a page of a thousand objects
costs a handful of statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from idsync.store.bulk import insert_many
from idsync.store.models import INTEGRATIONS, PUSH_CREATING, PUSH_MEMBERS, PUSH_OBJECTS

_CHUNK = 500

Member = tuple[str, str, str]
"""(group id, member type, member id), all in the application's ids."""


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(table)


# --- objects ----------------------------------------------------------------------------------


def pushed_objects(
    conn: Connection, integration_id: str, object_type: str, target_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Target id → the assignments last pushed, for the ids the ledger knows."""
    p = PUSH_OBJECTS
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(target_ids))):
        query = sa.select(p.c.target_id, p.c.assignments).where(
            p.c.integration_id == integration_id,
            p.c.object_type == object_type,
            p.c.target_id.in_(chunk),
        )
        found.update((row.target_id, dict(row.assignments)) for row in conn.execute(query))
    return found


@dataclass(frozen=True, slots=True)
class Owner:
    """Another push integration whose ledger holds an object of the same application."""

    integration_id: str
    name: str
    same_org: bool
    """Of the asking integration's organisation (another's is named by id only)."""


def other_owners(
    conn: Connection,
    integration_id: str,
    object_type: str,
    target_ids: Iterable[str],
) -> dict[str, Owner]:
    """Target id → the other push integration that created (or adopted) it, among those
    pushing to the same application as ``integration_id`` (the same base URL): an id is
    the application's, so ledgers of other applications do not count."""
    i, p = INTEGRATIONS, PUSH_OBJECTS
    ours = conn.execute(sa.select(i.c.settings, i.c.org_id).where(i.c.id == integration_id)).one()
    base = _base_url(ours.settings)
    found: dict[str, Owner] = {}
    for chunk in _chunks(sorted(set(target_ids))):
        query = (
            sa.select(p.c.target_id, i.c.id, i.c.name, i.c.org_id, i.c.settings)
            .join(i, i.c.id == p.c.integration_id)
            .where(
                p.c.integration_id != integration_id,
                p.c.object_type == object_type,
                p.c.target_id.in_(chunk),
            )
        )
        for row in conn.execute(query):
            if base and _base_url(row.settings) == base:
                found[row.target_id] = Owner(row.id, row.name, row.org_id == ours.org_id)
    return found


def _base_url(settings: Any) -> str:
    url = settings.get("url") if isinstance(settings, Mapping) else None
    return str(url).rstrip("/").lower() if url else ""


def save_objects(
    conn: Connection,
    integration_id: str,
    object_type: str,
    assignments: Mapping[str, Mapping[str, Any]],
) -> None:
    """Upsert target id → assignments (the whole set last pushed, not a delta)."""
    if not assignments:
        return
    statement = _insert(conn, PUSH_OBJECTS)
    statement = statement.on_conflict_do_update(
        index_elements=[
            PUSH_OBJECTS.c.integration_id,
            PUSH_OBJECTS.c.object_type,
            PUSH_OBJECTS.c.target_id,
        ],
        set_={"assignments": statement.excluded.assignments},
    )
    rows = [
        {
            "integration_id": integration_id,
            "object_type": object_type,
            "target_id": target_id,
            "assignments": dict(values),
        }
        for target_id, values in assignments.items()
    ]
    conn.execute(statement, rows)


def note_creating(
    conn: Connection, integration_id: str, object_type: str, keys: Iterable[str]
) -> None:
    """Creates about to be sent, by their folded keys (see ``PUSH_CREATING``)."""
    rows = [
        {"integration_id": integration_id, "object_type": object_type, "key": key}
        for key in sorted(set(keys))
    ]
    if rows:
        conn.execute(_insert(conn, PUSH_CREATING).on_conflict_do_nothing(), rows)


def creating(
    conn: Connection, integration_id: str, object_type: str, keys: Iterable[str]
) -> set[str]:
    """The folded keys among ``keys`` of creates sent and never seen answered."""
    c = PUSH_CREATING
    found: set[str] = set()
    for chunk in _chunks(sorted(set(keys))):
        query = sa.select(c.c.key).where(
            c.c.integration_id == integration_id,
            c.c.object_type == object_type,
            c.c.key.in_(chunk),
        )
        found.update(conn.scalars(query))
    return found


def done_creating(
    conn: Connection, integration_id: str, object_type: str, keys: Iterable[str]
) -> None:
    """Creates answered (and their outcome remembered), or taken in hand after a crash."""
    c = PUSH_CREATING
    for chunk in _chunks(sorted(set(keys))):
        conn.execute(
            c.delete().where(
                c.c.integration_id == integration_id,
                c.c.object_type == object_type,
                c.c.key.in_(chunk),
            )
        )


def forget_objects(
    conn: Connection, integration_id: str, object_type: str, target_ids: Sequence[str]
) -> None:
    """Drop deleted objects, and the memberships that named them."""
    p, m = PUSH_OBJECTS, PUSH_MEMBERS
    for chunk in _chunks(list(target_ids)):
        conn.execute(
            p.delete().where(
                p.c.integration_id == integration_id,
                p.c.object_type == object_type,
                p.c.target_id.in_(chunk),
            )
        )
        conn.execute(
            m.delete().where(
                m.c.integration_id == integration_id,
                m.c.member_type == object_type,
                m.c.member_id.in_(chunk),
            )
        )
        if object_type == "group":
            conn.execute(
                m.delete().where(m.c.integration_id == integration_id, m.c.group_id.in_(chunk))
            )


# --- memberships ------------------------------------------------------------------------------


def known_members(conn: Connection, integration_id: str, members: Sequence[Member]) -> set[Member]:
    """Those of ``members`` the ledger holds (pushed earlier by this integration)."""
    m = PUSH_MEMBERS
    found: set[Member] = set()
    by_group: dict[str, list[str]] = {}
    for group_id, _, member_id in members:
        by_group.setdefault(group_id, []).append(member_id)
    wanted = set(members)
    for group_id, member_ids in by_group.items():
        for chunk in _chunks(sorted(set(member_ids))):
            query = sa.select(m.c.group_id, m.c.member_type, m.c.member_id).where(
                m.c.integration_id == integration_id,
                m.c.group_id == group_id,
                m.c.member_id.in_(chunk),
            )
            found.update(row for row in map(tuple, conn.execute(query)) if row in wanted)
    return found


def record_members(
    conn: Connection, integration_id: str, members: Sequence[Member], seen: str | None
) -> None:
    """Remember memberships as pushed; with ``seen``, mark them reported by that cycle."""
    if not members:
        return
    statement = _insert(conn, PUSH_MEMBERS)
    index = [
        PUSH_MEMBERS.c.integration_id,
        PUSH_MEMBERS.c.group_id,
        PUSH_MEMBERS.c.member_type,
        PUSH_MEMBERS.c.member_id,
    ]
    if seen is None:
        statement = statement.on_conflict_do_nothing(index_elements=index)
    else:
        statement = statement.on_conflict_do_update(
            index_elements=index, set_={"seen_cycle": statement.excluded.seen_cycle}
        )
    rows = [
        {
            "integration_id": integration_id,
            "group_id": group_id,
            "member_type": member_type,
            "member_id": member_id,
            "seen_cycle": seen,
        }
        for group_id, member_type, member_id in dict.fromkeys(members)
    ]
    insert_many(conn, statement, rows)


def forget_members(conn: Connection, integration_id: str, members: Sequence[Member]) -> None:
    if not members:
        return
    m = PUSH_MEMBERS
    statement = m.delete().where(
        m.c.integration_id == integration_id,
        m.c.group_id == sa.bindparam("g"),
        m.c.member_type == sa.bindparam("t"),
        m.c.member_id == sa.bindparam("m"),
    )
    conn.execute(statement, [{"g": g, "t": t, "m": i} for g, t, i in set(members)])


def unlisted_members(
    conn: Connection, integration_id: str, group_ids: Sequence[str], seen: str
) -> list[Member]:
    """Memberships of these groups this integration pushed that cycle ``seen`` did not report."""
    m = PUSH_MEMBERS
    found: list[Member] = []
    for chunk in _chunks(sorted(set(group_ids))):
        query = sa.select(m.c.group_id, m.c.member_type, m.c.member_id).where(
            m.c.integration_id == integration_id,
            m.c.group_id.in_(chunk),
            sa.or_(m.c.seen_cycle.is_(None), m.c.seen_cycle != seen),
        )
        found.extend((row[0], row[1], row[2]) for row in conn.execute(query))
    return found


def group_members(conn: Connection, integration_id: str, group_ids: Sequence[str]) -> set[Member]:
    """Every membership of these groups this integration pushed."""
    m = PUSH_MEMBERS
    found: set[Member] = set()
    for chunk in _chunks(sorted(set(group_ids))):
        query = sa.select(m.c.group_id, m.c.member_type, m.c.member_id).where(
            m.c.integration_id == integration_id, m.c.group_id.in_(chunk)
        )
        found.update((row[0], row[1], row[2]) for row in conn.execute(query))
    return found


def memberships_of(
    conn: Connection, integration_id: str, member_type: str, member_ids: Sequence[str]
) -> set[Member]:
    """Every membership this integration pushed for these members, in any group."""
    m = PUSH_MEMBERS
    found: set[Member] = set()
    for chunk in _chunks(sorted(set(member_ids))):
        query = sa.select(m.c.group_id, m.c.member_type, m.c.member_id).where(
            m.c.integration_id == integration_id,
            m.c.member_type == member_type,
            m.c.member_id.in_(chunk),
        )
        found.update((row[0], row[1], row[2]) for row in conn.execute(query))
    return found


def mark_seen(conn: Connection, integration_id: str, group_ids: Sequence[str], seen: str) -> None:
    m = PUSH_MEMBERS
    for chunk in _chunks(sorted(set(group_ids))):
        conn.execute(
            m.update()
            .where(m.c.integration_id == integration_id, m.c.group_id.in_(chunk))
            .values(seen_cycle=seen)
        )


def count_members(conn: Connection, integration_id: str, group_id: str) -> int:
    m = PUSH_MEMBERS
    query = sa.select(sa.func.count()).where(
        m.c.integration_id == integration_id, m.c.group_id == group_id
    )
    return int(conn.execute(query).scalar_one())
