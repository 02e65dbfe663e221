"""Operators: the administrators of the console and the management API (not SCIM users),
how they sign in, and what their role lets them do.

An operator has one role, for one organisation or (without one) for all of them:

* ``full``: everything, credentials, tokens, operators and the org's switches included;
* ``users``: users and groups, and running integrations (run, preview, pause, resume,
  restart, approve, validate), but not their credentials, nor tokens;
* ``readonly``: reads everything of its organisation, changes nothing.

Passwords are hashed with argon2id. A console session is 256 random bits in an
HttpOnly cookie; only its SHA-256 is stored, beside the session's CSRF token. A script
uses an API key (stored the same way) that acts as its operator. Failed sign-ins lock
the account (5 in a row, for 15 minutes by default), and too many failures from one
address refuse that address for the rest of the window (20 in 15 minutes); both are
counted in the database, so every API process sees the same count (``Settings``'
``sign_in_*``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from idsync.config import Settings
from idsync.errors.catalogue import (
    ACCOUNT_LOCKED,
    CSRF_REJECTED,
    KEY_NOT_FOUND,
    OPERATOR_EXISTS,
    OPERATOR_FORBIDDEN,
    OPERATOR_INVALID,
    OPERATOR_NOT_FOUND,
    OPERATOR_SIGN_IN_FAILED,
    ORG_NOT_FOUND,
    SESSION_REQUIRED,
    SIGN_INS_THROTTLED,
    IdsyncError,
)
from idsync.scim.values import format_datetime
from idsync.store import audit, operators, orgs
from idsync.store.database import Database
from idsync.store.operators import KeyRecord, SessionRecord
from idsync.store.operators import OperatorRecord as OperatorRecord
from idsync.store.types import utcnow

ROLES = ("full", "users", "readonly")
MIN_PASSWORD_LENGTH = 12
SESSION_IDLE = timedelta(hours=8)
SESSION_MAX = timedelta(hours=24)
_TOUCH_EVERY = timedelta(minutes=1)
KEY_PREFIX = "idsk_"
_SHOWN_KEY_PREFIX = len(KEY_PREFIX) + 6
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Unknown e-mail addresses are verified against this, so that a sign-in takes as long
    whether or not the address belongs to an operator (made on first use: hashing costs
    every command's start-up ~50 ms otherwise)."""
    return _hasher.hash(secrets.token_urlsafe(16))


# --- what each role may do --------------------------------------------------------------------

READ = "read"
RUN = "run integrations"
USERS = "change users and groups"
CREDENTIALS = "change integrations, their credentials or tokens"
SETTINGS = "change the organisation's settings"
OPERATORS = "manage operators"

_ALLOWED = {
    "full": frozenset({READ, RUN, USERS, CREDENTIALS, SETTINGS, OPERATORS}),
    "users": frozenset({READ, RUN, USERS}),
    "readonly": frozenset({READ}),
}


def may(operator: OperatorRecord, action: str) -> bool:
    return action in _ALLOWED.get(operator.role, frozenset())


def authorize(operator: OperatorRecord, action: str, org_id: str | None = None) -> None:
    """Refuse what the operator's role does not allow, and any other organisation than
    its own: as not found, so that one org's operators cannot even learn another's ids."""
    if org_id is not None and operator.org_id is not None and org_id != operator.org_id:
        raise IdsyncError(ORG_NOT_FOUND, org=org_id)
    if not may(operator, action):
        raise IdsyncError(
            OPERATOR_FORBIDDEN, email=operator.email, role=operator.role, action=action
        )


def visible_org_ids(db: Database, operator: OperatorRecord) -> list[str]:
    if operator.org_id is not None:
        return [operator.org_id]
    with db.read() as conn:
        return [org.id for org in orgs.list_orgs(conn)]


def actor(operator: OperatorRecord, address: str, via: str = "console") -> str:
    """Who did it and from where, as the audit log records every operator's action."""
    return f"{operator.email} ({via}, {address})"


# --- operators, as the CLI's `idsync admin` manages them -----------------------------------------


def create_operator(
    db: Database, email: str, password: str | None, role: str, org_id: str | None, *, actor: str
) -> OperatorRecord:
    """An operator; without a password it signs in only with the OpenID Connect provider."""
    email = email.strip()
    _check(email, role, password)
    record = OperatorRecord(str(uuid.uuid4()), email, role, org_id, utcnow())
    with db.write() as conn:
        if org_id is not None:
            orgs.require_org(conn, org_id)
        if operators.find_operator(conn, email) is not None:
            raise IdsyncError(OPERATOR_EXISTS, email=email)
        operators.insert_operator(conn, record, _hasher.hash(password) if password else None)
        _audit(conn, record, "Create operator", actor, {"role": role})
    return record


def _check(email: str, role: str, password: str | None) -> None:
    reason = None
    if not _EMAIL.match(email):
        reason = f"{email!r} is not an e-mail address"
    elif role not in ROLES:
        reason = f"the role {role!r} is not one of {', '.join(ROLES)}"
    elif password is not None and len(password) < MIN_PASSWORD_LENGTH:
        reason = f"the password has fewer than {MIN_PASSWORD_LENGTH} characters"
    if reason:
        raise IdsyncError(OPERATOR_INVALID, reason=reason, min_length=MIN_PASSWORD_LENGTH)


def list_operators(db: Database, org_id: str | None = None) -> list[OperatorRecord]:
    with db.read() as conn:
        return operators.list_operators(conn, org_id)


def get_operator(db: Database, email: str) -> OperatorRecord:
    with db.read() as conn:
        found = operators.find_operator(conn, email)
    if found is None:
        raise IdsyncError(OPERATOR_NOT_FOUND, email=email)
    return found[0]


def remove_operator(db: Database, email: str, *, actor: str) -> OperatorRecord:
    record = get_operator(db, email)
    with db.write() as conn:
        operators.delete_operator(conn, record.id)
        _audit(conn, record, "Remove operator", actor)
    return record


def reset_password(db: Database, email: str, password: str, *, actor: str) -> OperatorRecord:
    """A new password; unlocks the account and ends its sessions."""
    record = get_operator(db, email)
    _check(record.email, record.role, password)
    with db.write() as conn:
        operators.set_password(conn, record.id, _hasher.hash(password))
        _audit(conn, record, "Reset operator password", actor)
    return record


def _audit(
    conn: Connection,
    record: OperatorRecord,
    activity: str,
    actor: str,
    details: dict[str, object] | None = None,
    result: str = "success",
) -> None:
    audit.record(
        conn,
        org_id=record.org_id,
        category="Security",
        activity=activity,
        result=result,
        actor=actor,
        target=record.email,
        details=details or {},
    )


# --- signing in ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    operator: OperatorRecord
    secret: str
    """The session cookie's value: shown to the browser once, stored only as a hash."""
    session: SessionRecord


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _address_key(address: str, now: datetime, config: Settings) -> str:
    window = int(now.timestamp() // (config.sign_in_locked_minutes * 60))
    return f"sign-in failures {address} {window}"


def _address_failures(conn: Connection, address: str, now: datetime, config: Settings) -> int:
    """Failed sign-ins from ``address`` in this window and the one before. Counting this
    window alone forgot every failure at its boundary: an address could fail up to the
    limit just before it and again just after (a test signing in at 03:00:00 met it)."""
    before = now - timedelta(minutes=config.sign_in_locked_minutes)
    return sum(audit.counted(conn, _address_key(address, at, config)) for at in (before, now))


def sign_in(
    db: Database,
    config: Settings,
    email: str,
    password: str,
    address: str,
    *,
    now: datetime | None = None,
) -> SignedIn:
    """A new session for the operator whose password this is, or the reason why not
    (``now``: the time of the attempt, for tests of the windows; default the clock's)."""
    now = now or utcnow()
    minutes = config.sign_in_locked_minutes
    with db.read() as conn:
        if _address_failures(conn, address, now, config) >= config.sign_in_address_limit:
            raise IdsyncError(
                SIGN_INS_THROTTLED,
                limit=config.sign_in_address_limit,
                address=address,
                minutes=2 * minutes,  # the counted windows' span at most
            )
        found = operators.find_operator(conn, email)
    record, stored = found if found else (None, None)
    if record is not None and record.locked_until is not None and record.locked_until > now:
        until = format_datetime(record.locked_until)
        raise IdsyncError(ACCOUNT_LOCKED, limit=config.sign_in_lock_after, until=until)
    if record is None or stored is None or not _verified(stored, password):
        _failed(db, config, record, address, now)
        raise IdsyncError(OPERATOR_SIGN_IN_FAILED, limit=config.sign_in_lock_after, minutes=minutes)
    return new_session(db, record, address, now, "Sign in")


def _verified(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _failed(
    db: Database, config: Settings, record: OperatorRecord | None, address: str, now: datetime
) -> None:
    if record is None:
        _verified(_dummy_hash(), "")  # the same time as a known address
    locked_until = now + timedelta(minutes=config.sign_in_locked_minutes)
    with db.write() as conn:
        audit.count(
            conn,
            _address_key(address, now, config),
            org_id=None,
            category="Security",
            activity="Sign-in failures from an address",
            result="failure",
            actor=address,
            target=None,
            tracking_id=None,
            details={"address": address},
        )
        if record is None:
            return
        locks = operators.record_failure(conn, record.id, config.sign_in_lock_after, locked_until)
        details: dict[str, object] = {"address": address}
        if locks:
            details["locked_until"] = format_datetime(locked_until)
        _audit(conn, record, "Sign in", record.email, details, result="failure")


def new_session(
    db: Database, record: OperatorRecord, address: str, now: datetime, activity: str
) -> SignedIn:
    secret = secrets.token_urlsafe(32)
    session = SessionRecord(
        record.id, secrets.token_urlsafe(32), address, now, now + SESSION_MAX, now
    )
    with db.write() as conn:
        operators.delete_expired_sessions(conn, now)
        operators.insert_session(conn, _hash(secret), session)
        operators.record_sign_in(conn, record.id, now)
        _audit(conn, record, activity, record.email, {"address": address})
    return SignedIn(record, secret, session)


def session_for(db: Database, secret: str | None) -> tuple[OperatorRecord, SessionRecord]:
    """The operator and session of a session cookie, or IDS-401-131."""
    if not secret:
        raise IdsyncError(SESSION_REQUIRED, reason="no session cookie")
    now = utcnow()
    with db.read() as conn:
        found = operators.find_session(conn, _hash(secret))
    if found is None:
        raise IdsyncError(SESSION_REQUIRED, reason="the session ended or is unknown")
    session, record = found
    if session.expires_at <= now or session.last_seen_at + SESSION_IDLE <= now:
        raise IdsyncError(SESSION_REQUIRED, reason="the session expired")
    if now - session.last_seen_at >= _TOUCH_EVERY:
        with db.write() as conn:
            operators.touch_session(conn, _hash(secret), now)
    return record, session


def check_csrf(session: SessionRecord, sent: str | None) -> None:
    if not sent:
        raise IdsyncError(CSRF_REJECTED, reason="no token was sent")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise IdsyncError(CSRF_REJECTED, reason="the token is not this session's")


def sign_out(db: Database, secret: str, address: str) -> None:
    found = None
    with db.write() as conn:
        found = operators.find_session(conn, _hash(secret))
        operators.delete_session(conn, _hash(secret))
        if found is not None:
            _audit(conn, found[1], "Sign out", found[1].email, {"address": address})


# --- API keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    record: KeyRecord
    secret: str


def create_key(db: Database, email: str, name: str, *, actor: str) -> IssuedKey:
    record = get_operator(db, email)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = KeyRecord(
        str(uuid.uuid4()), record.id, name, secret[:_SHOWN_KEY_PREFIX], utcnow(), None, None
    )
    with db.write() as conn:
        operators.insert_key(conn, key, _hash(secret))
        _audit(conn, record, "Create API key", actor, {"key": key.id, "prefix": key.prefix})
    return IssuedKey(key, secret)


def list_keys(db: Database, email: str) -> list[KeyRecord]:
    record = get_operator(db, email)
    with db.read() as conn:
        return operators.list_keys(conn, record.id)


def revoke_key(db: Database, email: str, key_id: str, *, actor: str) -> None:
    record = get_operator(db, email)
    with db.write() as conn:
        owned = {k.id for k in operators.list_keys(conn, record.id)}
        if key_id not in owned or not operators.revoke_key(conn, key_id, utcnow()):
            raise IdsyncError(KEY_NOT_FOUND, key=key_id, email=record.email)
        _audit(conn, record, "Revoke API key", actor, {"key": key_id})


def operator_for_key(db: Database, secret: str) -> OperatorRecord:
    """The operator an API key acts as, or IDS-401-131."""
    with db.read() as conn:
        found = operators.find_key(conn, _hash(secret))
    if found is None or found[0].revoked_at is not None:
        raise IdsyncError(SESSION_REQUIRED, reason="the API key is unknown or revoked")
    key, record = found
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= _TOUCH_EVERY:
        with db.write() as conn:
            operators.touch_key(conn, key.id, now)
    return record
