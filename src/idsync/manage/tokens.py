"""Bearer tokens for an organisation's SCIM API, as an administrator manages them:
issue, list, revoke (requests are verified by idsync.hub.tokens).

A token is 256 random bits, shown once. Only its SHA-256 is stored: a token is
not a password (it cannot be guessed, so a slow hash buys nothing), and a fast
hash lets every request find its token with one index probe. The stored and
computed hashes are compared in constant time.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import orjson
from cryptography.fernet import InvalidToken

from idsync.config import Settings
from idsync.errors.catalogue import (
    ORG_NOT_FOUND,
    TOKEN_NOT_FOUND,
    IdsyncError,
)
from idsync.hub.tokens import SECRET_PREFIX, SHOWN_PREFIX_LENGTH, hash_secret
from idsync.scim.values import format_datetime
from idsync.store import audit, orgs, tokens
from idsync.store.database import Database
from idsync.store.tokens import TokenRecord
from idsync.store.types import utcnow
from idsync.sync.secrets import purpose_cipher


@dataclass(frozen=True)
class IssuedToken:
    record: TokenRecord
    secret: str


def issue(
    db: Database, org_id: str, name: str, *, actor: str, expires_in: timedelta | None = None
) -> IssuedToken:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    record = TokenRecord(
        id=str(uuid.uuid4()),
        org_id=org_id,
        name=name or "SCIM token",
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
        last_used_at=None,
        revoked_at=None,
    )
    with db.write() as conn:
        if orgs.get_org(conn, org_id) is None:
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        tokens.insert_token(conn, record, hash_secret(secret))
        audit.record(
            conn,
            org_id=org_id,
            category="Security",
            activity="Create token",
            result="success",
            actor=actor,
            target=record.id,
            details={
                "name": record.name,
                "prefix": record.prefix,
                "expiresAt": format_datetime(record.expires_at) if record.expires_at else None,
            },
        )
    return IssuedToken(record, secret)


def revoke(db: Database, token_id: str, *, actor: str, org_id: str | None = None) -> TokenRecord:
    with db.write() as conn:
        record = tokens.get_token(conn, token_id)
        if record is None or (org_id is not None and record.org_id != org_id):
            scope = f" in organisation {org_id}" if org_id else ""
            raise IdsyncError(TOKEN_NOT_FOUND, token=token_id, scope=scope)
        if record.revoked_at is None:
            tokens.mark_revoked(conn, token_id, utcnow())
            audit.record(
                conn,
                org_id=record.org_id,
                category="Security",
                activity="Revoke token",
                result="success",
                actor=actor,
                target=token_id,
                details={"prefix": record.prefix},
            )
        updated = tokens.get_token(conn, token_id)
    assert updated is not None
    return updated


def list_for(db: Database, org_id: str | None) -> list[TokenRecord]:
    with db.read() as conn:
        if org_id is not None and orgs.get_org(conn, org_id) is None:
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        return tokens.list_tokens(conn, org_id)


# --- showing a new token once, after a redirect ----------------------------------------------

_SHOWN_ONCE = b"idsync new token, shown once"
SHOWN_SECONDS = 60


def seal_for_showing(db: Database, config: Settings, issued: IssuedToken) -> str:
    """A new token for the browser to bring back once (the console's Post/Redirect/Get:
    reloading the page that shows it must not make another), encrypted with a key
    derived from the credentials key; good for a minute."""
    payload = {"name": issued.record.name, "prefix": issued.record.prefix, "secret": issued.secret}
    return purpose_cipher(db, config, _SHOWN_ONCE).encrypt(orjson.dumps(payload)).decode()


def open_for_showing(db: Database, config: Settings, sealed: str | None) -> dict[str, str] | None:
    """What :func:`seal_for_showing` sealed, or None (absent, too old, or not ours)."""
    if not sealed:
        return None
    try:
        payload = purpose_cipher(db, config, _SHOWN_ONCE).decrypt(
            sealed.encode(), ttl=SHOWN_SECONDS
        )
    except InvalidToken:
        return None
    shown: dict[str, str] = orjson.loads(payload)
    return shown
