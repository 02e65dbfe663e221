"""Rows of users and groups: the statements every SCIM operation is made of.

Every statement is scoped by ``org_id``: a resource of another organisation is
indistinguishable from one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, Row, Table
from sqlalchemy.engine import Dialect

from idsync.scim.compare import fold
from idsync.store.models import GROUPS, MEMBERSHIPS, USERS
from idsync.store.prepared import Prepared

users = USERS
groups = GROUPS
memberships = MEMBERSHIPS

MAX_NESTING = 32
"""Deepest group nesting followed when computing indirect memberships."""


def table(resource_type: str) -> Table:
    return users if resource_type == "User" else groups


@dataclass(frozen=True)
class Page:
    rows: Sequence[Row[Any]]
    total: int


# --- single rows --------------------------------------------------------------------------


def get_row(
    conn: Connection,
    resource_type: str,
    org_id: str,
    resource_id: str,
    *,
    for_update: bool = False,
    for_delete: bool = False,
) -> Row[Any] | None:
    """One resource's row; read to render (with a user's direct groups) or to lock and change.

    On PostgreSQL a row locked to change takes FOR NO KEY UPDATE, the lock an UPDATE of
    non-key columns takes anyway: it does not block another transaction's foreign-key
    check on the row (FOR KEY SHARE), such as adding this group to another one. With FOR
    UPDATE, nesting A in B while B is nested in A deadlocked. A row about to be deleted
    takes FOR UPDATE, which waits for those checks to finish.
    """
    if for_update or for_delete:
        t = table(resource_type)
        locked = (
            sa.select(t)
            .where(t.c.org_id == org_id, t.c.id == resource_id)
            .with_for_update(key_share=not for_delete)
        )
        return conn.execute(locked).first()
    rows = lookup(conn, resource_type, org_id, "id", resource_id, 0, 1).rows
    return rows[0] if rows else None


# Statements built once and given their values as parameters: building an
# INSERT with .values(...) per request costs more than SQLite takes to run it.
_INSERTS = {name: table(name).insert() for name in ("User", "Group")}
_UPDATES = {
    name: table(name)
    .update()
    .where(table(name).c.org_id == sa.bindparam("_org"), table(name).c.id == sa.bindparam("_id"))
    for name in ("User", "Group")
}


def user_columns(doc: dict[str, Any]) -> dict[str, Any]:
    """A user's indexed columns, mirroring its document (``*_key``: the comparison form)."""
    return {
        "user_name": doc["userName"],
        "user_name_key": fold(doc["userName"]),
        "external_id": doc.get("externalId"),
        "display_name": doc.get("displayName"),
        "active": bool(doc.get("active", True)),
        "doc": doc,
    }


def group_columns(doc: dict[str, Any]) -> dict[str, Any]:
    """A group's indexed columns, mirroring its document."""
    return {
        "display_name": doc["displayName"],
        "display_name_key": fold(doc["displayName"]),
        "external_id": doc.get("externalId"),
        "doc": doc,
    }


def insert_row(conn: Connection, resource_type: str, values: Mapping[str, Any]) -> None:
    conn.execute(_INSERTS[resource_type], dict(values))


def update_row(
    conn: Connection, resource_type: str, org_id: str, resource_id: str, values: Mapping[str, Any]
) -> None:
    conn.execute(_UPDATES[resource_type], {**values, "_org": org_id, "_id": resource_id})


def delete_row(conn: Connection, resource_type: str, org_id: str, resource_id: str) -> bool:
    t = table(resource_type)
    return conn.execute(t.delete().where(t.c.org_id == org_id, t.c.id == resource_id)).rowcount > 0


def touch_groups(conn: Connection, group_ids: Iterable[str], when: datetime) -> None:
    """Record that these groups changed (their members did): new version, new lastModified."""
    ids = list(set(group_ids))
    for chunk in _chunks(ids):
        conn.execute(
            groups.update()
            .where(groups.c.id.in_(chunk))
            .values(version=groups.c.version + 1, updated_at=when)
        )


def find_conflict(
    conn: Connection,
    resource_type: str,
    org_id: str,
    column: str,
    value: str,
    exclude_id: str | None = None,
) -> str | None:
    """The id of another resource holding ``value`` in a unique column, if any."""
    t = table(resource_type)
    query = sa.select(t.c.id).where(t.c.org_id == org_id, t.c[column] == value)
    if exclude_id is not None:
        query = query.where(t.c.id != exclude_id)
    return conn.execute(query.limit(1)).scalar()


# --- searching ----------------------------------------------------------------------------


@cache
def _selected(resource_type: str, dialect: str) -> tuple[Any, ...]:
    """The columns a listing reads. A user comes with its direct groups, so that a
    lookup (the request Entra ID and Okta make most) is one statement."""
    t = table(resource_type)
    if resource_type != "User":
        return (t,)
    return (t, _direct_groups_column(dialect))


def _direct_groups_column(dialect: str) -> ColumnElement[Any]:
    """[[group id, display name, is that group nested in another?], …] per user, as JSON."""
    m = memberships.alias("direct")
    g = groups.alias("direct_group")
    parent = memberships.alias("direct_parent")
    nested = sa.exists().where(parent.c.member_group_id == m.c.group_id)
    if dialect == "sqlite":
        aggregate: ColumnElement[Any] = sa.func.json_group_array(
            sa.func.json_array(m.c.group_id, g.c.display_name, nested)
        )
    else:
        aggregate = sa.func.coalesce(
            sa.func.json_agg(sa.func.json_build_array(m.c.group_id, g.c.display_name, nested)),
            sa.text("'[]'::json"),
        )
    listed = (
        sa.select(aggregate)
        .select_from(m.join(g, g.c.id == m.c.group_id))
        .where(m.c.user_id == users.c.id)
        .scalar_subquery()
    )
    return sa.type_coerce(listed, sa.JSON).label("direct_groups")


def search(
    conn: Connection,
    resource_type: str,
    org_id: str,
    where: ColumnElement[bool] | None,
    order_by: Sequence[ColumnElement[Any]],
    offset: int,
    limit: int,
) -> Page:
    t = table(resource_type)
    condition = t.c.org_id == org_id if where is None else sa.and_(t.c.org_id == org_id, where)
    rows: Sequence[Row[Any]] = []
    if limit > 0:
        query = (
            sa.select(*_selected(resource_type, conn.dialect.name))
            .where(condition)
            .order_by(*order_by, t.c.id)
            .offset(offset)
            .limit(limit)
        )
        rows = list(conn.execute(query).all())
    if limit > 0 and len(rows) < limit and (rows or offset == 0):
        # A page that is not full ends the result set: no need to count.
        total = offset + len(rows)
    else:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(t).where(condition)
        ).scalar_one()
    return Page(rows, total)


@dataclass(frozen=True)
class Browsed:
    rows: list[Row[Any]]
    total: int
    """Of the whole result, not of what follows the cursor."""
    more: bool
    """Whether more rows lie beyond the page, in the direction it was read."""


def browse(
    conn: Connection,
    resource_type: str,
    org_id: str,
    where: ColumnElement[bool] | None,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int,
) -> Browsed:
    """One page in id order, after (or before) an id: the console's paging, whose cost does
    not grow with how deep the page lies (an OFFSET reads every row it skips: the last of
    100,000 users took 430 ms on PostgreSQL)."""
    t = table(resource_type)
    condition = t.c.org_id == org_id if where is None else sa.and_(t.c.org_id == org_id, where)
    paged, order = condition, t.c.id.asc()
    if after is not None:
        paged = sa.and_(condition, t.c.id > after)
    elif before is not None:
        paged, order = sa.and_(condition, t.c.id < before), t.c.id.desc()
    query = sa.select(*_selected(resource_type, conn.dialect.name)).where(paged)
    rows = list(conn.execute(query.order_by(order).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if before is not None and after is None:
        rows.reverse()
    total = conn.execute(sa.select(sa.func.count()).select_from(t).where(condition)).scalar_one()
    return Browsed(rows, int(total), more)


def count(conn: Connection, resource_type: str, org_id: str) -> int:
    t = table(resource_type)
    query = sa.select(sa.func.count()).select_from(t).where(t.c.org_id == org_id)
    return int(conn.execute(query).scalar_one())


_LOOKUP_COLUMNS = {
    "User": ("id", "user_name_key", "external_id"),
    "Group": ("id", "display_name_key", "external_id"),
}


@lru_cache(maxsize=64)  # a few per engine: bounded, as tests open many engines
def lookup_statement(resource_type: str, column: str, dialect: Dialect) -> Prepared:
    """Built once per dialect: building a statement costs more than SQLite takes to run it."""
    if column not in _LOOKUP_COLUMNS[resource_type]:
        raise ValueError(f"{column} is not a unique lookup column of {resource_type}")
    t = table(resource_type)
    # The column is unique: at most one row, so paging is done on the result.
    statement = sa.select(*_selected(resource_type, dialect.name)).where(
        t.c.org_id == sa.bindparam("org", type_=sa.String),
        t.c[column] == sa.bindparam("value", type_=sa.String),
    )
    return Prepared(statement, dialect)


def lookup(
    conn: Connection,
    resource_type: str,
    org_id: str,
    column: str,
    value: str,
    offset: int,
    limit: int,
) -> Page:
    """The resource whose unique ``column`` equals ``value``: one index probe, a built statement."""
    statement = lookup_statement(resource_type, column, conn.dialect)
    found = statement.rows(conn, {"org": org_id, "value": value})
    return Page(found[offset : offset + limit], len(found))


def existing_ids(
    conn: Connection, resource_type: str, org_id: str, ids: Iterable[str], *, keep: bool = False
) -> set[str]:
    """Which of ``ids`` exist; with ``keep``, they cannot be deleted until this transaction ends.

    ``keep`` takes FOR KEY SHARE on PostgreSQL, the lock a foreign key to the row takes:
    a membership about to be inserted for a user found here cannot lose its user in
    between (a concurrent DELETE waits, then sees the membership and removes it too).
    """
    t = table(resource_type)
    found: set[str] = set()
    for chunk in _chunks(list(set(ids))):
        query = sa.select(t.c.id).where(t.c.org_id == org_id, t.c.id.in_(chunk))
        if keep:
            query = query.with_for_update(read=True, key_share=True)
        found.update(conn.execute(query).scalars())
    return found


def lock_nesting(conn: Connection, org_id: str) -> None:
    """Serialise the changes that nest groups in one organisation, until the transaction ends.

    A nesting cycle check reads the ancestors of a group; two transactions that each
    nest one group in the other would both find none and make a cycle. On SQLite,
    writers are serialised already.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.select(
                sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"nesting:{org_id}", 0))
            )
        )


# --- memberships --------------------------------------------------------------------------


def members_of(conn: Connection, group_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """(member id, "User"|"Group") per group, in the order members were added."""
    result: dict[str, list[tuple[str, str]]] = {g: [] for g in group_ids}
    m = memberships
    for chunk in _chunks(list(group_ids)):
        rows = conn.execute(
            sa.select(m.c.group_id, m.c.user_id, m.c.member_group_id)
            .where(m.c.group_id.in_(chunk))
            .order_by(m.c.id)
        )
        for group_id, user_id, member_group_id in rows:
            if user_id is not None:
                result[group_id].append((user_id, "User"))
            else:
                result[group_id].append((member_group_id, "Group"))
    return result


def member_ids(conn: Connection, group_id: str) -> tuple[set[str], set[str]]:
    """(user ids, group ids) that are direct members of a group."""
    m = memberships
    rows = conn.execute(sa.select(m.c.user_id, m.c.member_group_id).where(m.c.group_id == group_id))
    user_ids: set[str] = set()
    group_ids: set[str] = set()
    for user_id, member_group_id in rows:
        if user_id is not None:
            user_ids.add(user_id)
        else:
            group_ids.add(member_group_id)
    return user_ids, group_ids


_PARENT_GROUPS = (
    sa.select(memberships.c.member_group_id, memberships.c.group_id, groups.c.display_name)
    .join(groups, groups.c.id == memberships.c.group_id)
    .where(memberships.c.member_group_id.in_(sa.bindparam("ids", expanding=True)))
)


def add_indirect_groups(
    conn: Connection,
    result: dict[str, list[tuple[str, str, bool]]],
    nested: dict[str, list[str]],
) -> None:
    """Add the groups reached through nesting, for users whose direct groups are nested.

    One level of parents at a time, while there are any. (A recursive CTE answers the
    same in one statement, and costs SQLite several times more.)
    """
    frontier: dict[str, set[str]] = {}
    seen = {(user, group) for user, entries in result.items() for group, _, _ in entries}
    for user, group_ids in nested.items():
        for group_id in group_ids:
            frontier.setdefault(group_id, set()).add(user)
    _add_indirect(conn, result, frontier, seen)


def _add_indirect(
    conn: Connection,
    result: dict[str, list[tuple[str, str, bool]]],
    frontier: dict[str, set[str]],
    seen: set[tuple[str, str]],
) -> None:
    """Follow parents of parents, breadth first, up to MAX_NESTING levels."""
    for _ in range(MAX_NESTING):
        if not frontier:
            return
        parents: dict[str, set[str]] = {}
        for chunk in _chunks(list(frontier)):
            for child, parent, display_name in conn.execute(_PARENT_GROUPS, {"ids": chunk}):
                for user in frontier[child]:
                    if (user, parent) not in seen:
                        seen.add((user, parent))
                        result[user].append((parent, display_name, False))
                        parents.setdefault(parent, set()).add(user)
        frontier = parents


def groups_containing(
    conn: Connection, *, user_id: str | None = None, group_id: str | None = None
) -> list[str]:
    m = memberships
    column = m.c.user_id if user_id is not None else m.c.member_group_id
    value = user_id if user_id is not None else group_id
    return list(conn.execute(sa.select(m.c.group_id).where(column == value)).scalars())


def insert_members(
    conn: Connection,
    org_id: str,
    group_id: str,
    user_ids: Sequence[str],
    group_ids: Sequence[str],
    when: datetime,
) -> int:
    """Insert memberships the caller checked are absent (see ``present_members``)."""
    rows = [
        {
            "org_id": org_id,
            "group_id": group_id,
            "user_id": u,
            "member_group_id": None,
            "created_at": when,
        }
        for u in user_ids
    ] + [
        {
            "org_id": org_id,
            "group_id": group_id,
            "user_id": None,
            "member_group_id": g,
            "created_at": when,
        }
        for g in group_ids
    ]
    if rows:
        conn.execute(memberships.insert(), rows)
    return len(rows)


def present_members(conn: Connection, group_id: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are already direct members of the group (an index probe each)."""
    m = memberships
    found: set[str] = set()
    for chunk in _chunks(list(set(ids))):
        rows = conn.execute(
            sa.select(m.c.user_id, m.c.member_group_id).where(
                m.c.group_id == group_id,
                sa.or_(m.c.user_id.in_(chunk), m.c.member_group_id.in_(chunk)),
            )
        )
        for user_id, member_group_id in rows:
            found.add(user_id if user_id is not None else member_group_id)
    return found


def remove_members(conn: Connection, group_id: str, ids: Iterable[str]) -> int:
    m = memberships
    removed = 0
    for chunk in _chunks(list(set(ids))):
        removed += conn.execute(
            m.delete().where(
                m.c.group_id == group_id,
                sa.or_(m.c.user_id.in_(chunk), m.c.member_group_id.in_(chunk)),
            )
        ).rowcount
    return removed


def clear_members(conn: Connection, group_id: str) -> int:
    return conn.execute(memberships.delete().where(memberships.c.group_id == group_id)).rowcount


def ancestors(conn: Connection, group_id: str) -> set[str]:
    """Groups that contain ``group_id``, directly or through nesting (for cycle checks)."""
    m = memberships
    chain = (
        sa.select(m.c.group_id.label("id"), sa.literal(0).label("depth"))
        .where(m.c.member_group_id == group_id)
        .cte("up", recursive=True)
    )
    outer = m.alias("outer")
    chain = chain.union(
        sa.select(outer.c.group_id, chain.c.depth + 1)
        .join(outer, outer.c.member_group_id == chain.c.id)
        .where(chain.c.depth < MAX_NESTING)
    )
    return set(conn.execute(sa.select(chain.c.id)).scalars())


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def first_members(
    conn: Connection, group_id: str, limit: int
) -> tuple[int, list[tuple[str, str, str]]]:
    """How many direct members a group has, and the first ``limit`` of them as (id, type,
    name), for a page that shows a group without loading a 100,000-member list."""
    m = memberships
    total = conn.execute(
        sa.select(sa.func.count()).select_from(m).where(m.c.group_id == group_id)
    ).scalar_one()
    member_user = users.alias("member_user")
    member_group = groups.alias("member_group")
    rows = conn.execute(
        sa.select(
            sa.func.coalesce(m.c.user_id, m.c.member_group_id),
            m.c.user_id.is_not(None),
            sa.func.coalesce(member_user.c.user_name, member_group.c.display_name),
        )
        .outerjoin(member_user, member_user.c.id == m.c.user_id)
        .outerjoin(member_group, member_group.c.id == m.c.member_group_id)
        .where(m.c.group_id == group_id)
        .order_by(m.c.id)
        .limit(limit)
    )
    return int(total), [(i, "User" if is_user else "Group", name) for i, is_user, name in rows]
