"""Bearer tokens for an organisation's SCIM API: verifying a request's token (issuing and
revoking them is idsync.manage.tokens).

A token is 256 random bits, shown once. Only its SHA-256 is stored: a token is
not a password (it cannot be guessed, so a slow hash buys nothing), and a fast
hash lets every request find its token with one index probe. The stored and
computed hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from idsync.errors.catalogue import (
    AUTH_SCHEME,
    TOKEN_EXPIRED,
    TOKEN_MISSING,
    TOKEN_REVOKED,
    TOKEN_UNKNOWN,
    IdsyncError,
)
from idsync.hub.rejections import Refusal, RejectionLimiter
from idsync.scim.values import format_datetime
from idsync.store import tokens
from idsync.store.database import Database
from idsync.store.tokens import TokenMatch
from idsync.store.types import utcnow

SECRET_PREFIX = "idsync_"  # noqa: S105 - a marker for secret scanners, not a secret
SHOWN_PREFIX_LENGTH = len(SECRET_PREFIX) + 6


@dataclass(frozen=True)
class Authenticated:
    org_id: str
    token_id: str
    schema_revision: int
    group_patch_response: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def bearer_secret(authorization: str | None) -> str:
    """The token in an ``Authorization: Bearer …`` header (RFC 6750 §2.1)."""
    if not authorization or not authorization.strip():
        raise IdsyncError(TOKEN_MISSING)
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise IdsyncError(AUTH_SCHEME, scheme=_named_scheme(scheme))
    secret = secret.strip()
    if not secret:
        raise IdsyncError(TOKEN_MISSING)
    return secret


# The IANA HTTP Authentication Scheme Registry (RFC 9110 §16.4), plus the schemes SCIM
# clients are known to send by mistake. Anything else may be the secret itself, sent
# without "Bearer ": none of it is echoed.
_KNOWN_SCHEMES = {
    s.lower(): s
    for s in (
        "Basic",
        "Concealed",
        "Digest",
        "DPoP",
        "GNAP",
        "HOBA",
        "Mutual",
        "Negotiate",
        "OAuth",
        "PrivateToken",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "vapid",
        "Token",
        "SSWS",
        "ApiKey",
    )
}


def _named_scheme(scheme: str) -> str:
    known = _KNOWN_SCHEMES.get(scheme.lower())
    return f"the {known!r} scheme" if known else "no scheme idsync knows (or none at all)"


class TokenCache:
    """Tokens verified in the last ``ttl`` seconds, so a burst of requests reads the row once.

    Only tokens that passed are kept. A token revoked from another process (the CLI,
    another API worker) therefore stops working within ``ttl`` seconds — one by
    default. Expiry is still checked on every request.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, TokenMatch]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> TokenMatch | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, match: TokenMatch) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl, match)


def authenticate(
    db: Database,
    authorization: str | None,
    *,
    touch_after: timedelta,
    limiter: RejectionLimiter,
    source: str,
    cache: TokenCache | None = None,
    tracking_id: str | None = None,
) -> Authenticated:
    """The token's organisation, or an IdsyncError: 401, counted in the audit log, or 429
    once ``source`` has been refused too often (see ``hub.rejections``)."""
    try:
        secret = bearer_secret(authorization)
    except IdsyncError as exc:
        raise limiter.refuse(Refusal(source, exc, None, tracking_id)) from None
    digest = hash_secret(secret)
    match = cache.get(digest) if cache is not None else None
    cached = match is not None
    if match is None:
        with db.read() as conn:
            match = tokens.find_by_hash(conn, digest)
    if match is None or not hmac.compare_digest(match.secret_hash, digest):
        raise limiter.refuse(Refusal(source, IdsyncError(TOKEN_UNKNOWN), None, tracking_id))
    token = match.token
    now = utcnow()
    if token.revoked_at is not None:
        error = IdsyncError(
            TOKEN_REVOKED, prefix=token.prefix, revoked_at=format_datetime(token.revoked_at)
        )
    elif token.expires_at is not None and token.expires_at <= now:
        error = IdsyncError(
            TOKEN_EXPIRED, prefix=token.prefix, expires_at=format_datetime(token.expires_at)
        )
    else:
        if token.last_used_at is None or now - token.last_used_at > touch_after:
            with db.write() as conn:
                tokens.touch(conn, token.id, now)
            match = replace(match, token=replace(token, last_used_at=now))
        if cache is not None and not cached:
            # Only a fresh read starts the clock: a token in constant use is still
            # read again every ttl seconds, so a revocation always lands.
            cache.put(digest, match)
        return Authenticated(
            token.org_id, token.id, match.schema_revision, match.group_patch_response
        )
    raise limiter.refuse(Refusal(source, error, token, tracking_id))
