"""What the engine remembers between pages and cycles: links, pending removals,
escrow, cycles and the provisioning log. Set-based statements only: a page of
a thousand objects costs a handful of statements, not a thousand."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from idsync.store.bulk import document, insert_many, timestamp
from idsync.store.lists import any_of
from idsync.store.models import (
    PROVISIONING_LOG,
    SYNC_CYCLES,
    SYNC_ESCROW,
    SYNC_OBJECTS,
    SYNC_PENDING,
    SYNC_PENDING_MEMBERS,
)
from idsync.store.types import utcnow

_CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _delete_objects(
    conn: Connection,
    table: sa.Table,
    integration_id: str,
    object_type: str,
    source_ids: Sequence[str],
) -> None:
    """Delete an integration's rows about these source objects (pending removals, escrow)."""
    for chunk in _chunks(list(source_ids)):
        conn.execute(
            table.delete().where(
                table.c.integration_id == integration_id,
                table.c.object_type == object_type,
                any_of(table.c.source_id, chunk, conn.dialect.name),
            )
        )


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(table)


# --- links: source object → target object ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    source_id: str
    target_id: str | None
    digest: str | None
    state: str


def links(
    conn: Connection, integration_id: str, object_type: str, source_ids: Iterable[str]
) -> dict[str, Link]:
    o = SYNC_OBJECTS
    found: dict[str, Link] = {}
    for chunk in _chunks(sorted(set(source_ids))):
        query = sa.select(o.c.source_id, o.c.target_id, o.c.digest, o.c.state).where(
            o.c.integration_id == integration_id,
            o.c.object_type == object_type,
            any_of(o.c.source_id, chunk, conn.dialect.name),
        )
        found.update((row.source_id, Link(*row)) for row in conn.execute(query))
    return found


def save_links(
    conn: Connection,
    integration_id: str,
    object_type: str,
    rows: list[dict[str, Any]],
    *,
    expect_new: bool = False,
) -> None:
    """Upsert links: each row has source_id, target_id, digest, state, seen_cycle, pending_ref.
    ``expect_new``: none of them was linked before (a first load's page), see
    ``bulk.insert_tuples``."""
    if not rows:
        return
    values = [{"integration_id": integration_id, "object_type": object_type, **r} for r in rows]
    statement = _insert(conn, SYNC_OBJECTS)
    statement = statement.on_conflict_do_update(
        index_elements=[
            SYNC_OBJECTS.c.integration_id,
            SYNC_OBJECTS.c.object_type,
            SYNC_OBJECTS.c.source_id,
        ],
        set_={
            name: statement.excluded[name]
            for name in ("target_id", "digest", "state", "seen_cycle", "pending_ref")
        },
    )
    insert_many(conn, statement, values, expect_new=expect_new)


def set_link_state(
    conn: Connection, integration_id: str, object_type: str, source_ids: Sequence[str], state: str
) -> None:
    _update_links(conn, integration_id, object_type, source_ids, state=state, digest=None)


def _update_links(
    conn: Connection,
    integration_id: str,
    object_type: str,
    source_ids: Sequence[str],
    **values: Any,
) -> None:
    o = SYNC_OBJECTS
    for chunk in _chunks(list(source_ids)):
        conn.execute(
            o.update()
            .where(
                o.c.integration_id == integration_id,
                o.c.object_type == object_type,
                any_of(o.c.source_id, chunk, conn.dialect.name),
            )
            .values(**values)
        )


def pending_references(conn: Connection, integration_id: str) -> list[tuple[str, str | None, str]]:
    """(user target id, manager target id or None if still unknown, manager source id)."""
    user, manager = SYNC_OBJECTS.alias("u"), SYNC_OBJECTS.alias("m")
    query = (
        sa.select(user.c.target_id, manager.c.target_id, user.c.pending_ref)
        .select_from(
            user.outerjoin(
                manager,
                sa.and_(
                    manager.c.integration_id == user.c.integration_id,
                    manager.c.object_type == "user",
                    manager.c.source_id == user.c.pending_ref,
                    manager.c.state != "removed",
                ),
            )
        )
        .where(
            user.c.integration_id == integration_id,
            user.c.object_type == "user",
            user.c.pending_ref.is_not(None),
        )
    )
    return [(row[0], row[1], row[2]) for row in conn.execute(query)]


def clear_pending_references(
    conn: Connection, integration_id: str, user_target_ids: Sequence[str]
) -> None:
    """Forget the references now written; the others wait for their target to appear."""
    o = SYNC_OBJECTS
    for chunk in _chunks(list(user_target_ids)):
        conn.execute(
            o.update()
            .where(
                o.c.integration_id == integration_id,
                o.c.object_type == "user",
                o.c.target_id.in_(chunk),
                o.c.pending_ref.is_not(None),
            )
            .values(pending_ref=None)
        )


def unseen_links(
    conn: Connection, integration_id: str, object_type: str, cycle_id: str
) -> list[Link]:
    """Links a full read did not report: those objects are gone from the source."""
    o = SYNC_OBJECTS
    query = sa.select(o.c.source_id, o.c.target_id, o.c.digest, o.c.state).where(
        o.c.integration_id == integration_id,
        o.c.object_type == object_type,
        o.c.state != "removed",
        sa.or_(o.c.seen_cycle.is_(None), o.c.seen_cycle != cycle_id),
    )
    return [Link(*row) for row in conn.execute(query)]


def has_links(conn: Connection, integration_id: str, object_type: str) -> bool:
    """Whether the integration has any link of this type, in whatever state."""
    o = SYNC_OBJECTS
    query = sa.select(o.c.source_id).where(
        o.c.integration_id == integration_id, o.c.object_type == object_type
    )
    return conn.execute(query.limit(1)).first() is not None


def count_links(conn: Connection, integration_id: str, object_type: str) -> int:
    o = SYNC_OBJECTS
    query = sa.select(sa.func.count()).where(
        o.c.integration_id == integration_id, o.c.object_type == object_type, o.c.state != "removed"
    )
    return int(conn.execute(query).scalar_one())


def active_links(conn: Connection, integration_id: str, object_type: str) -> dict[str, str]:
    """Source id → target id of every object of this type the integration keeps active."""
    o = SYNC_OBJECTS
    query = sa.select(o.c.source_id, o.c.target_id).where(
        o.c.integration_id == integration_id,
        o.c.object_type == object_type,
        o.c.state == "active",
        o.c.target_id.is_not(None),
    )
    return {source_id: target_id for source_id, target_id in conn.execute(query)}


def group_targets(conn: Connection, integration_id: str) -> list[str]:
    o = SYNC_OBJECTS
    query = sa.select(o.c.target_id).where(
        o.c.integration_id == integration_id,
        o.c.object_type == "group",
        o.c.state == "active",
        o.c.target_id.is_not(None),
    )
    return list(conn.execute(query).scalars())


# --- memberships waiting for their member ----------------------------------------------------


def add_pending_members(
    conn: Connection, integration_id: str, items: Sequence[tuple[str, str, str]]
) -> None:
    """(group source id, member type, member source id): remember until resolvable."""
    if not items:
        return
    p = SYNC_PENDING_MEMBERS
    statement = _insert(conn, p).on_conflict_do_nothing(
        index_elements=[
            p.c.integration_id,
            p.c.group_source_id,
            p.c.member_type,
            p.c.member_source_id,
        ]
    )
    keys = ("group_source_id", "member_type", "member_source_id")
    conn.execute(
        statement,
        [
            {"integration_id": integration_id, **dict(zip(keys, item, strict=True))}
            for item in set(items)
        ],
    )


def drop_pending_members(
    conn: Connection, integration_id: str, items: Sequence[tuple[str, str, str]]
) -> None:
    if not items:
        return
    p = SYNC_PENDING_MEMBERS
    statement = p.delete().where(
        p.c.integration_id == integration_id,
        p.c.group_source_id == sa.bindparam("g"),
        p.c.member_type == sa.bindparam("t"),
        p.c.member_source_id == sa.bindparam("m"),
    )
    conn.execute(statement, [{"g": g, "t": t, "m": m} for g, t, m in set(items)])


def clear_pending_members(
    conn: Connection, integration_id: str, group_source_ids: Sequence[str] | None = None
) -> None:
    """Forget waiting memberships: all of them, or those of the given groups (whose
    whole member list has just been read again)."""
    p = SYNC_PENDING_MEMBERS
    where = p.c.integration_id == integration_id
    if group_source_ids is None:
        conn.execute(p.delete().where(where))
        return
    for chunk in _chunks(list(group_source_ids)):
        conn.execute(p.delete().where(where, p.c.group_source_id.in_(chunk)))


def touch_links(
    conn: Connection, integration_id: str, object_type: str, source_ids: Sequence[str], seen: str
) -> None:
    """Mark links as reported by the read ``seen`` without changing them (a record the
    source could not parse this time is not read as the object's removal)."""
    _update_links(conn, integration_id, object_type, source_ids, seen_cycle=seen)


def live_links(conn: Connection, integration_id: str, object_type: str) -> list[Link]:
    """Every object of this type the integration still provisions (not removed)."""
    o = SYNC_OBJECTS
    query = sa.select(o.c.source_id, o.c.target_id, o.c.digest, o.c.state).where(
        o.c.integration_id == integration_id,
        o.c.object_type == object_type,
        o.c.state != "removed",
    )
    return [Link(*row) for row in conn.execute(query)]


def resolvable_pending_members(
    conn: Connection, integration_id: str
) -> list[tuple[str, str, str, str, str]]:
    """Pending memberships whose group and member both exist in the target now:
    (group source id, group target id, member type, member source id, member target id)."""
    p = SYNC_PENDING_MEMBERS
    group, member = SYNC_OBJECTS.alias("g"), SYNC_OBJECTS.alias("m")
    query = (
        sa.select(
            p.c.group_source_id,
            group.c.target_id,
            p.c.member_type,
            p.c.member_source_id,
            member.c.target_id,
        )
        .select_from(
            p.join(
                group,
                sa.and_(
                    group.c.integration_id == p.c.integration_id,
                    group.c.object_type == "group",
                    group.c.source_id == p.c.group_source_id,
                    group.c.state == "active",
                ),
            ).join(
                member,
                sa.and_(
                    member.c.integration_id == p.c.integration_id,
                    member.c.object_type == p.c.member_type,
                    member.c.source_id == p.c.member_source_id,
                    member.c.state != "removed",
                    member.c.target_id.is_not(None),
                ),
            )
        )
        .where(p.c.integration_id == integration_id)
    )
    return [tuple(row) for row in conn.execute(query)]


# --- pending removals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    object_type: str
    source_id: str
    target_id: str
    action: str
    reason: str
    staged: bool


def add_pending(
    conn: Connection, integration_id: str, cycle_id: str, items: Sequence[Pending]
) -> None:
    if not items:
        return
    statement = _insert(conn, SYNC_PENDING)
    statement = statement.on_conflict_do_update(
        index_elements=[
            SYNC_PENDING.c.integration_id,
            SYNC_PENDING.c.object_type,
            SYNC_PENDING.c.source_id,
        ],
        set_={n: statement.excluded[n] for n in ("target_id", "action", "reason", "cycle_id")},
    )
    now = utcnow()
    conn.execute(
        statement,
        [
            {
                "integration_id": integration_id,
                "object_type": p.object_type,
                "source_id": p.source_id,
                "target_id": p.target_id,
                "action": p.action,
                "reason": p.reason,
                "cycle_id": cycle_id,
                "staged": p.staged,
                "created_at": now,
            }
            for p in items
        ],
    )


def drop_pending(
    conn: Connection, integration_id: str, object_type: str, source_ids: Sequence[str]
) -> None:
    _delete_objects(conn, SYNC_PENDING, integration_id, object_type, source_ids)


def has_pending(conn: Connection, integration_id: str) -> bool:
    p = SYNC_PENDING
    query = sa.select(p.c.source_id).where(p.c.integration_id == integration_id).limit(1)
    return conn.execute(query).first() is not None


def list_pending(
    conn: Connection, integration_id: str, *, staged: bool | None = None
) -> list[Pending]:
    p = SYNC_PENDING
    query = sa.select(
        p.c.object_type, p.c.source_id, p.c.target_id, p.c.action, p.c.reason, p.c.staged
    ).where(p.c.integration_id == integration_id)
    if staged is not None:
        query = query.where(p.c.staged.is_(staged))
    return [Pending(*row) for row in conn.execute(query.order_by(p.c.object_type, p.c.source_id))]


def stage_pending(conn: Connection, integration_id: str) -> None:
    p = SYNC_PENDING
    conn.execute(p.update().where(p.c.integration_id == integration_id).values(staged=True))


# --- escrow ----------------------------------------------------------------------------------------


def escrow(
    conn: Connection,
    integration_id: str,
    object_type: str,
    source_id: str,
    error_code: str | None,
    reason: str,
    retry_at: Callable[[int], datetime],
) -> int:
    """Put (or keep) an object in escrow, due again at ``retry_at(failed attempts)``;
    returns how many attempts failed so far."""
    e = SYNC_ESCROW
    key = (
        (e.c.integration_id == integration_id)
        & (e.c.object_type == object_type)
        & (e.c.source_id == source_id)
    )
    now = utcnow()
    statement = _insert(conn, e).values(
        integration_id=integration_id,
        object_type=object_type,
        source_id=source_id,
        attempts=1,
        error_code=error_code,
        reason=reason,
        first_failed_at=now,
        next_attempt_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[e.c.integration_id, e.c.object_type, e.c.source_id],
        set_={
            "attempts": e.c.attempts + 1,
            "error_code": statement.excluded.error_code,
            "reason": statement.excluded.reason,
        },
    )
    conn.execute(statement)
    attempts = int(conn.execute(sa.select(e.c.attempts).where(key)).scalar_one())
    conn.execute(e.update().where(key).values(next_attempt_at=retry_at(attempts)))
    return attempts


def release_escrow(
    conn: Connection, integration_id: str, object_type: str, source_ids: Sequence[str]
) -> None:
    _delete_objects(conn, SYNC_ESCROW, integration_id, object_type, source_ids)


def due_escrow(
    conn: Connection, integration_id: str, now: datetime, limit: int = 1000
) -> list[tuple[str, str]]:
    e = SYNC_ESCROW
    query = (
        sa.select(e.c.object_type, e.c.source_id)
        .where(e.c.integration_id == integration_id, e.c.next_attempt_at <= now)
        .order_by(e.c.next_attempt_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in conn.execute(query)]


def escrowed(conn: Connection, integration_id: str, object_type: str) -> set[str]:
    e = SYNC_ESCROW
    query = sa.select(e.c.source_id).where(
        e.c.integration_id == integration_id, e.c.object_type == object_type
    )
    return set(conn.execute(query).scalars())


def has_escrow(conn: Connection, integration_id: str) -> bool:
    e = SYNC_ESCROW
    query = sa.select(e.c.source_id).where(e.c.integration_id == integration_id).limit(1)
    return conn.execute(query).first() is not None


def clear_escrow(conn: Connection, integration_id: str) -> None:
    conn.execute(SYNC_ESCROW.delete().where(SYNC_ESCROW.c.integration_id == integration_id))


# --- cycles and the provisioning log -------------------------------------------------------------


def insert_cycle(
    conn: Connection,
    cycle_id: str,
    integration_id: str,
    org_id: str,
    mode: str,
    *,
    tracking_id: str | None = None,
) -> None:
    conn.execute(
        SYNC_CYCLES.insert().values(
            id=cycle_id,
            integration_id=integration_id,
            org_id=org_id,
            mode=mode,
            status="running",
            started_at=utcnow(),
            counts={},
            timings={},
            tracking_id=tracking_id,
        )
    )


def update_cycle(conn: Connection, cycle_id: str, **values: Any) -> None:
    conn.execute(SYNC_CYCLES.update().where(SYNC_CYCLES.c.id == cycle_id).values(**values))


def get_cycle(conn: Connection, cycle_id: str) -> Any:
    return conn.execute(sa.select(SYNC_CYCLES).where(SYNC_CYCLES.c.id == cycle_id)).first()


def latest_cycle(conn: Connection, integration_id: str, since: datetime) -> Any:
    """The integration's newest cycle started at or after ``since`` (None if none)."""
    query = (
        sa.select(SYNC_CYCLES)
        .where(SYNC_CYCLES.c.integration_id == integration_id, SYNC_CYCLES.c.started_at >= since)
        .order_by(SYNC_CYCLES.c.started_at.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def last_finished_cycle(conn: Connection, integration_id: str) -> Any:
    """The job's newest cycle that ran to an end (None if none): not one still running,
    not a one-object provisioning (``onDemand``). Unlike the job's ``last_cycle_id``, which
    only a completed cycle moves, it is also a cycle stopped by refused credentials."""
    c = SYNC_CYCLES
    query = (
        sa.select(c)
        .where(
            c.c.integration_id == integration_id, c.c.status != "running", c.c.mode != "onDemand"
        )
        .order_by(c.c.started_at.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def write_log(conn: Connection, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    rows = [
        {
            **entry,
            "occurred_at": timestamp(conn.dialect.name, entry["occurred_at"]),
            "changes": document(entry.get("changes")),
        }
        for entry in entries
    ]
    insert_many(conn, PROVISIONING_LOG.insert(), rows)


def prune_log(conn: Connection, integration_id: str, before: datetime) -> int:
    """Delete the integration's entries older than ``before``. Entries are appended in
    time order, so the old ones are those below the first id that is recent enough:
    the statement touches only the rows it deletes."""
    log = PROVISIONING_LOG
    first_kept = (
        sa.select(sa.func.min(log.c.id))
        .where(log.c.integration_id == integration_id, log.c.occurred_at >= before)
        .scalar_subquery()
    )
    result = conn.execute(
        log.delete().where(log.c.integration_id == integration_id, log.c.id < first_kept)
    )
    return max(result.rowcount, 0)


def read_log(
    conn: Connection,
    integration_id: str,
    *,
    cycle_id: str | None = None,
    action: str | None = None,
    result: str | None = None,
    source_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first, as plain dicts (every column but the org and integration ids)."""
    log = PROVISIONING_LOG
    query = sa.select(log).where(log.c.integration_id == integration_id)
    for column, value in (
        (log.c.cycle_id, cycle_id),
        (log.c.action, action),
        (log.c.result, result),
        (log.c.source_id, source_id),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = conn.execute(query.order_by(log.c.id.desc()).limit(limit)).mappings()
    return [{k: v for k, v in row.items() if k not in ("org_id", "integration_id")} for row in rows]


def failures_by_code(conn: Connection, integration_id: str, cycle_id: str) -> dict[str, int]:
    """How many objects of one cycle failed, per catalogue code, most first."""
    log = PROVISIONING_LOG
    code = sa.func.coalesce(log.c.error_code, "")
    query = (
        sa.select(code, sa.func.count())
        .where(
            log.c.integration_id == integration_id,
            log.c.cycle_id == cycle_id,
            log.c.result == "failure",
        )
        .group_by(code)
        .order_by(sa.func.count().desc(), code)
    )
    return {str(row[0]): int(row[1]) for row in conn.execute(query)}


def count_removals_since(conn: Connection, integration_id: str, since: datetime) -> int:
    """Objects the integration disabled or deleted since a moment (what a failure could
    have cost, had idsync not stopped)."""
    log = PROVISIONING_LOG
    query = sa.select(sa.func.count()).where(
        log.c.integration_id == integration_id,
        log.c.occurred_at >= since,
        log.c.action.in_(("disable", "delete")),
        log.c.result == "success",
    )
    return int(conn.execute(query).scalar_one())


def recent_cycles(conn: Connection, integration_id: str, limit: int) -> list[Any]:
    """The integration's newest cycles, newest first (previews and on-demand runs too)."""
    c = SYNC_CYCLES
    query = (
        sa.select(c)
        .where(c.c.integration_id == integration_id)
        .order_by(c.c.started_at.desc())
        .limit(limit)
    )
    return list(conn.execute(query))
