"""Bearer tokens: stored as SHA-256 hashes, looked up by hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.store.models import ORGS, TOKENS

_tokens = TOKENS
_orgs = ORGS


@dataclass(frozen=True)
class TokenRecord:
    id: str
    org_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenMatch:
    """A token found by its secret's hash, with what a request needs about its org."""

    token: TokenRecord
    secret_hash: str
    schema_revision: int
    group_patch_response: str


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.org_id,
        row.name,
        row.prefix,
        row.created_at,
        row.expires_at,
        row.last_used_at,
        row.revoked_at,
    )


def insert_token(conn: Connection, record: TokenRecord, secret_hash: str) -> None:
    conn.execute(
        _tokens.insert().values(
            id=record.id,
            org_id=record.org_id,
            name=record.name,
            prefix=record.prefix,
            secret_hash=secret_hash,
            created_at=record.created_at,
            expires_at=record.expires_at,
        )
    )


_BY_HASH = (
    sa.select(_tokens, _orgs.c.schema_revision, _orgs.c.group_patch_response)
    .join(_orgs, _orgs.c.id == _tokens.c.org_id)
    .where(_tokens.c.secret_hash == sa.bindparam("h"))
)


def find_by_hash(conn: Connection, secret_hash: str) -> TokenMatch | None:
    row = conn.execute(_BY_HASH, {"h": secret_hash}).first()
    if row is None:
        return None
    return TokenMatch(_record(row), row.secret_hash, row.schema_revision, row.group_patch_response)


def get_token(conn: Connection, token_id: str) -> TokenRecord | None:
    row = conn.execute(sa.select(_tokens).where(_tokens.c.id == token_id)).first()
    return _record(row) if row else None


def list_tokens(conn: Connection, org_id: str | None = None) -> list[TokenRecord]:
    query = sa.select(_tokens).order_by(_tokens.c.created_at, _tokens.c.id)
    if org_id is not None:
        query = query.where(_tokens.c.org_id == org_id)
    return [_record(r) for r in conn.execute(query)]


def mark_revoked(conn: Connection, token_id: str, when: datetime) -> None:
    conn.execute(
        _tokens.update()
        .where(_tokens.c.id == token_id, _tokens.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )


def touch(conn: Connection, token_id: str, when: datetime) -> None:
    conn.execute(_tokens.update().where(_tokens.c.id == token_id).values(last_used_at=when))
