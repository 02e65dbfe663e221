"""Operators, their console sessions and their management-API keys (see
idsync.manage.operators for what an administrator does with them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.store.models import OPERATOR_KEYS, OPERATOR_SESSIONS, OPERATORS

_operators = OPERATORS
_sessions = OPERATOR_SESSIONS
_keys = OPERATOR_KEYS


@dataclass(frozen=True)
class OperatorRecord:
    id: str
    email: str
    role: str
    org_id: str | None
    created_at: datetime
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    last_sign_in_at: datetime | None = None


@dataclass(frozen=True)
class SessionRecord:
    operator_id: str
    csrf_token: str
    address: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class KeyRecord:
    id: str
    operator_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def email_key(email: str) -> str:
    return email.strip().casefold()


def _operator(row: Any, prefix: str = "") -> OperatorRecord:
    field = row._mapping
    return OperatorRecord(
        field[prefix + "id"],
        field[prefix + "email"],
        field[prefix + "role"],
        field[prefix + "org_id"],
        field[prefix + "created_at"],
        field[prefix + "failed_sign_ins"],
        field[prefix + "locked_until"],
        field[prefix + "last_sign_in_at"],
    )


# Joined with a session or a key, whose own id and created_at would shadow the operator's.
_OPERATOR_COLUMNS = [c.label(f"op_{c.name}") for c in _operators.c if c.name != "password_hash"]


def insert_operator(conn: Connection, record: OperatorRecord, password_hash: str | None) -> None:
    conn.execute(
        _operators.insert().values(
            id=record.id,
            email=record.email,
            email_key=email_key(record.email),
            password_hash=password_hash,
            role=record.role,
            org_id=record.org_id,
            created_at=record.created_at,
        )
    )


def find_operator(conn: Connection, email: str) -> tuple[OperatorRecord, str | None] | None:
    """The operator with this e-mail address and its password hash."""
    row = conn.execute(
        sa.select(_operators).where(_operators.c.email_key == email_key(email))
    ).first()
    return (_operator(row), row.password_hash) if row else None


def get_operator(conn: Connection, operator_id: str) -> OperatorRecord | None:
    row = conn.execute(sa.select(_operators).where(_operators.c.id == operator_id)).first()
    return _operator(row) if row else None


def list_operators(conn: Connection, org_id: str | None = None) -> list[OperatorRecord]:
    query = sa.select(_operators).order_by(_operators.c.email_key)
    if org_id is not None:
        query = query.where(_operators.c.org_id == org_id)
    return [_operator(r) for r in conn.execute(query)]


def delete_operator(conn: Connection, operator_id: str) -> None:
    conn.execute(_operators.delete().where(_operators.c.id == operator_id))


def set_password(conn: Connection, operator_id: str, password_hash: str) -> None:
    conn.execute(
        _operators.update()
        .where(_operators.c.id == operator_id)
        .values(password_hash=password_hash, failed_sign_ins=0, locked_until=None)
    )
    end_sessions(conn, operator_id)


def record_failure(
    conn: Connection, operator_id: str, lock_after: int, locked_until: datetime
) -> bool:
    """Count a failed sign-in, locking the account until ``locked_until`` once ``lock_after``
    failed in a row; whether it is locked now. The count is one statement, so concurrent
    failures are all counted."""
    o = _operators
    conn.execute(
        o.update().where(o.c.id == operator_id).values(failed_sign_ins=o.c.failed_sign_ins + 1)
    )
    locked = conn.execute(
        o.update()
        .where(o.c.id == operator_id, o.c.failed_sign_ins >= lock_after)
        .values(locked_until=locked_until, failed_sign_ins=0)
    ).rowcount
    return bool(locked)


def record_sign_in(conn: Connection, operator_id: str, when: datetime) -> None:
    conn.execute(
        _operators.update()
        .where(_operators.c.id == operator_id)
        .values(failed_sign_ins=0, locked_until=None, last_sign_in_at=when)
    )


# --- sessions ---------------------------------------------------------------------------------


def insert_session(conn: Connection, secret_hash: str, session: SessionRecord) -> None:
    conn.execute(
        _sessions.insert().values(
            secret_hash=secret_hash,
            operator_id=session.operator_id,
            csrf_token=session.csrf_token,
            address=session.address,
            created_at=session.created_at,
            expires_at=session.expires_at,
            last_seen_at=session.last_seen_at,
        )
    )


_SESSION = (
    sa.select(_sessions, *_OPERATOR_COLUMNS)
    .join(_operators, _operators.c.id == _sessions.c.operator_id)
    .where(_sessions.c.secret_hash == sa.bindparam("h"))
)


def find_session(conn: Connection, secret_hash: str) -> tuple[SessionRecord, OperatorRecord] | None:
    row = conn.execute(_SESSION, {"h": secret_hash}).first()
    if row is None:
        return None
    session = SessionRecord(
        row.operator_id,
        row.csrf_token,
        row.address,
        row.created_at,
        row.expires_at,
        row.last_seen_at,
    )
    return session, _operator(row, "op_")


def touch_session(conn: Connection, secret_hash: str, when: datetime) -> None:
    conn.execute(
        _sessions.update().where(_sessions.c.secret_hash == secret_hash).values(last_seen_at=when)
    )


def delete_session(conn: Connection, secret_hash: str) -> None:
    conn.execute(_sessions.delete().where(_sessions.c.secret_hash == secret_hash))


def end_sessions(conn: Connection, operator_id: str) -> None:
    conn.execute(_sessions.delete().where(_sessions.c.operator_id == operator_id))


def delete_expired_sessions(conn: Connection, now: datetime) -> None:
    conn.execute(_sessions.delete().where(_sessions.c.expires_at < now))


# --- API keys ---------------------------------------------------------------------------------


def _key(row: Any) -> KeyRecord:
    return KeyRecord(
        row.id,
        row.operator_id,
        row.name,
        row.prefix,
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )


def insert_key(conn: Connection, record: KeyRecord, secret_hash: str) -> None:
    conn.execute(
        _keys.insert().values(
            id=record.id,
            operator_id=record.operator_id,
            name=record.name,
            prefix=record.prefix,
            secret_hash=secret_hash,
            created_at=record.created_at,
        )
    )


_KEY = (
    sa.select(_keys, *_OPERATOR_COLUMNS)
    .join(_operators, _operators.c.id == _keys.c.operator_id)
    .where(_keys.c.secret_hash == sa.bindparam("h"))
)


def find_key(conn: Connection, secret_hash: str) -> tuple[KeyRecord, OperatorRecord] | None:
    row = conn.execute(_KEY, {"h": secret_hash}).first()
    if row is None:
        return None
    return _key(row), _operator(row, "op_")


def list_keys(conn: Connection, operator_id: str) -> list[KeyRecord]:
    query = sa.select(_keys).where(_keys.c.operator_id == operator_id).order_by(_keys.c.created_at)
    return [_key(r) for r in conn.execute(query)]


def revoke_key(conn: Connection, key_id: str, when: datetime) -> bool:
    changed = conn.execute(
        _keys.update()
        .where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
        .values(revoked_at=when)
    ).rowcount
    return bool(changed)


def touch_key(conn: Connection, key_id: str, when: datetime) -> None:
    conn.execute(_keys.update().where(_keys.c.id == key_id).values(last_used_at=when))
