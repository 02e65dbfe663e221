"""The hub side of the incident: a directory provisioning into idsync with a token the
hub no longer accepts.

The mirror image of a removed service principal: here idsync is the application and
the directory (Entra's provisioning service, Okta, a script) the client whose
credential went bad. The client sees only 401; the hub knows which token it was
(revoked or expired), from where, how often and since when, because every refusal
is counted in the audit log (hub/rejections.py). The finding is read from those
counts, never stored: it ends when the org's requests are accepted again.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from idsync.errors.catalogue import TOKEN_EXPIRED, TOKEN_REVOKED
from idsync.errors.tracking import new_tracking_id
from idsync.health.findings import Finding, Step
from idsync.scim.values import format_datetime
from idsync.store import audit, resources, tokens
from idsync.store.audit import RejectionWindow
from idsync.store.database import Database
from idsync.store.tokens import TokenRecord
from idsync.store.types import utcnow

LOOKBACK = timedelta(days=7)
"""How far back refusals count: longer than any directory's retry back-off (Entra
retries a quarantined job about once a day)."""

_CAUSES = {TOKEN_REVOKED.code: "hub_token_revoked", TOKEN_EXPIRED.code: "hub_token_expired"}


def inbound_findings(db: Database, *, org_id: str | None = None) -> list[Finding]:
    """One finding per issued token that clients still present after it went bad, unless
    the org's requests have been accepted with another token since the last refusal."""
    now = utcnow()
    with db.read() as conn:
        windows = audit.token_rejections(conn, org_id=org_id, since=now - LOOKBACK)
        known = {token.id: token for token in tokens.list_tokens(conn, org_id)}
    by_token: dict[str, list[RejectionWindow]] = defaultdict(list)
    for window in windows:
        if window.code in _CAUSES and window.token_id in known:
            by_token[window.token_id].append(window)
    found = []
    for token_id, refused in by_token.items():
        token = known[token_id]
        if _accepted_since(known.values(), token, refused[-1].started_at, now):
            continue
        found.append(_finding(db, token, refused))
    return found


def _accepted_since(
    known: Iterable[TokenRecord], bad: TokenRecord, last_refused: datetime, now: datetime
) -> bool:
    """Whether a working token of the same org was used after the last refusal: the
    client has its new secret."""
    return any(
        token.org_id == bad.org_id
        and token.id != bad.id
        and token.revoked_at is None
        and (token.expires_at is None or token.expires_at > now)
        and token.last_used_at is not None
        and token.last_used_at > last_refused
        for token in known
    )


def _finding(db: Database, token: TokenRecord, refused: Sequence[RejectionWindow]) -> Finding:
    code = refused[-1].code
    cause = _CAUSES[code]
    total = sum(window.count for window in refused)
    since = refused[0].started_at
    went_bad = "revoked" if cause == "hub_token_revoked" else "expired"
    when = token.revoked_at if went_bad == "revoked" else token.expires_at
    evidence = {
        "code": code,
        "org_id": token.org_id,
        "token_id": token.id,
        "token_name": token.name,
        "prefix": token.prefix,
        went_bad: format_datetime(when) if when else None,
        "rejections": total,
        "since": format_datetime(since),
        "last_refused": format_datetime(refused[-1].started_at),
        "sources": sorted({window.source for window in refused}),
    }
    return Finding(
        integration_id=None,
        integration=f"inbound SCIM, token '{token.name}'",
        token_id=token.id,
        cause=cause,
        summary=(
            f"A directory provisioning into org {token.org_id} is refused: token "
            f"'{token.name}' ({token.prefix}…) {went_bad}; {total:,} "
            f"request{'' if total == 1 else 's'} refused since {format_datetime(since)}"
        ),
        confidence="high",
        tracking_id=refused[-1].tracking_id or new_tracking_id(),
        evidence=evidence,
        protected=_protected(db, token.org_id, since),
        repair=_repair(token),
    )


def _protected(db: Database, org_id: str, since: datetime) -> dict[str, object]:
    with db.read() as conn:
        users = resources.count(conn, "User", org_id)
        groups = resources.count(conn, "Group", org_id)
    return {
        "summary": (
            f"the refused requests changed nothing: {users:,} users and {groups:,} groups "
            f"of the org kept as they were since {format_datetime(since)}"
        ),
        "since": format_datetime(since),
        "users": users,
        "groups": groups,
    }


def _repair(token: TokenRecord) -> tuple[Step, ...]:
    org = shlex.quote(token.org_id)
    return (
        Step(
            "Issue a new token for the directory (it is shown once).",
            command=f"idsync token create --org {org} --name {shlex.quote(token.name)}",
        ),
        Step(
            "Put it where the directory keeps the hub's secret. Entra ID: Enterprise "
            "applications, the application, Provisioning, Admin Credentials, Secret Token; "
            "Test Connection, then Save. Provisioning resumes at its next cycle.",
            by="tenant administrator",
        ),
        Step(
            "Check that the refusals stopped: no finding once the directory's next "
            "request is accepted.",
            command=f"idsync doctor --org {org}",
        ),
    )
