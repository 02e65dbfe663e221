"""Refused credentials: counted in the audit log per source and token prefix, limited with 429.

Each refusal used to write its own audit row, and nothing bounded how often a client
could be refused. Now one row per source address, token prefix and window counts
them (``audit_events.count``), and past ``rejected_token_limit`` in a window the
source gets 429 with Retry-After until the window ends.

Where the limit lives: in the database, in that same counted row. API processes are
stateless and may be many, and the row is written for the audit log anyway, so the
count every process sees is global at no extra cost: one upsert per refusal, as the
one insert before. Once a process learns that a key is over the limit, it answers 429
from memory until the window ends, with no database work at all; so a flood costs the
database at most ``limit`` writes plus one per process per window and key.

A valid token never reaches this module: the check costs the token path nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from idsync.config import Settings
from idsync.errors.catalogue import (
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    TOO_MANY_REJECTED,
    IdsyncError,
)
from idsync.store import audit
from idsync.store.database import Database
from idsync.store.tokens import TokenRecord
from idsync.store.types import utcnow

PRUNE_BATCH = 100
"""Expired audit rows deleted with each new counted row: the log shrinks faster than
refusals can grow it, and no write waits on a long delete."""


@dataclass(frozen=True)
class Refusal:
    """One refused request: where it came from, and what was refused."""

    source: str
    error: IdsyncError
    token: TokenRecord | None
    tracking_id: str | None

    @property
    def bucket(self) -> str:
        """What the count is kept per, beside the source.

        A token the hub issued (revoked or expired) is named by its prefix, as in
        ``idsync token list``. Unknown tokens are one bucket per source: their prefix
        names nothing, and one bucket bounds a source spraying random tokens. Nothing
        of an unknown secret is stored, not even its first characters.
        """
        if self.token is not None and self.error.error in (TOKEN_REVOKED, TOKEN_EXPIRED):
            return self.token.prefix
        return "-"


class RejectionLimiter:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        on_new_window: Callable[[TokenRecord], None] | None = None,
    ) -> None:
        """``on_new_window``: told of a revoked or expired token's first refusal in each
        window and source (the API layer alerts from it), never of unknown secrets."""
        self.db = db
        self.on_new_window = on_new_window
        self.limit = settings.rejected_token_limit
        self.window = max(1, settings.rejected_token_window_seconds)
        self.keep = timedelta(days=settings.audit_log_days)
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def refuse(self, refusal: Refusal) -> IdsyncError:
        """Count the refusal; the error to answer with (the refusal's own, or 429)."""
        now = time.time()
        window_start = int(now - now % self.window)
        window_end = window_start + self.window
        key = f"reject|{window_start}|{refusal.source}|{refusal.bucket}|{refusal.error.error.code}"
        if self._blocked.get(key, 0) > now:
            return self._too_many(refusal, window_end - now)
        count = self._count(key, refusal)
        if count == 1 and refusal.bucket != "-" and refusal.token and self.on_new_window:
            self.on_new_window(refusal.token)
        if count > self.limit:
            self._block(key, window_end, now)
            return self._too_many(refusal, window_end - now)
        return refusal.error

    def _count(self, key: str, refusal: Refusal) -> int:
        token = refusal.token
        details = {
            "code": refusal.error.error.code,
            "reason": refusal.error.error.title,
            "source": refusal.source,
            "windowSeconds": self.window,
            "limit": self.limit,
            **({"prefix": token.prefix} if token else {}),
        }
        with self.db.write() as conn:
            count = audit.count(
                conn,
                key,
                org_id=token.org_id if token else None,
                category="Security",
                activity="Reject token",
                result="failure",
                actor=f"token:{token.id}" if token else "anonymous",
                target=token.id if token else None,
                tracking_id=refusal.tracking_id,
                details=details,
            )
            if count == 1:
                # A new row: the moment to let old ones go (IDSYNC_AUDIT_LOG_DAYS).
                audit.prune(conn, utcnow() - self.keep, limit=PRUNE_BATCH)
        return count

    def _block(self, key: str, until: float, now: float) -> None:
        with self._lock:
            if len(self._blocked) > 10_000:
                self._blocked = {k: t for k, t in self._blocked.items() if t > now}
            self._blocked[key] = until

    def _too_many(self, refusal: Refusal, remaining: float) -> IdsyncError:
        return IdsyncError(
            TOO_MANY_REJECTED,
            limit=self.limit,
            source=refusal.source,
            window=self.window,
            retry_after=max(1, math.ceil(remaining)),
        )
