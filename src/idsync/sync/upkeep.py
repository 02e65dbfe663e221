"""The database's upkeep during a cycle, done beside it: when a cycle refreshes
PostgreSQL's planner statistics, and of which tables; on SQLite, the checkpoints of its
write-ahead log.

A first cycle takes tables from empty to millions of rows long before autovacuum's next
ANALYZE; planned on statistics of an empty table, its lookups scan tables whole and the
cycle turns quadratic (``Database.refresh_statistics``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from functools import partial

from idsync.contract.records import ObjectType
from idsync.store.database import Database


def statistics_due(pages_before: int, pages_after: int) -> bool:
    """Whether a read that went from ``pages_before`` to ``pages_after`` pages refreshes
    the database's planner statistics (see ``Database.refresh_statistics``): each time
    its page count passes a power of two from 2 on (2, 4, 8, …), so a big first cycle
    pays a few dozen ANALYZEs and a small incremental one none beyond its second page.

    Without end: the marks once stopped at 512 pages. A million-user directory's first
    group (an all-company group, a million members) fills hundreds of pages alone, so every
    ANALYZE of that phase saw a groups table of one row; planned on it, PostgreSQL's
    foreign-key check of each new membership scanned ``ix_groups_org_id`` whole instead
    of looking up ``groups_pkey``, and the phase slowed with every group added.
    """
    return pages_after >= 2 and pages_after.bit_length() > pages_before.bit_length()


GROWING_TABLES: dict[ObjectType, tuple[str, ...]] = {
    "user": ("users", "sync_objects"),
    "group": ("groups", "memberships", "sync_objects"),
}
"""The tables each phase's pages fill and its next pages look up, which
``statistics_due`` has analysed. Only those: on PostgreSQL an ANALYZE of 100k users
takes 0.3–0.4 s, and a group phase that analysed them at each of its marks spent
seconds on a table it does not write. The provisioning log grows too, but a cycle
only appends to it (its few reads come once, at the end, by index); its ANALYZEs,
about 0.5 s each for its wide rows, were 1.8–2.8 s of a 33 s, 30,000-user first load."""


class Upkeep:
    """Refreshes statistics (PostgreSQL) or checkpoints the write-ahead log (SQLite)
    beside the cycle, in one helper thread.

    An ANALYZE runs on its own connection and sees only what has committed, so the cycle
    need not wait for it: done in line, a 100,000-user first load waited about 3 s for
    its ANALYZEs (py-spy). One at a time: a refresh asked for while the last still runs
    waits for it (the marks double, so it has almost always finished). Its errors come
    out of the next ``refresh``, or on leaving the ``with`` block, in the cycle, as they
    did in line. On SQLite a refresh does nothing (``Database.refresh_statistics``).

    On SQLite, each commit of the cycle's is followed by a checkpoint in the helper
    (``checkpoint``; ``Database.checkpoint_wal``). A commit that finds the log past its
    size limit (``wal_autocheckpoint``) copies it into the database file itself, while
    the cycle waits. The helper does it while the cycle plans and writes its next pages
    (SQLite works without Python's lock), so the log is usually reset before it grows
    that far; a commit still checkpoints if it does. Measured on two cores shared with
    the Entra emulator: a 100,000-user first load 3 % faster; a million-user one's
    commits 67 → 56 s, its cycle no shorter (the cores were full).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pool: ThreadPoolExecutor | None = None
        self._running: Future[None] | None = None

    def refresh(self, tables: Sequence[str], *, vacuum: bool = False) -> None:
        """ANALYZE ``tables`` (with ``vacuum``, VACUUM (ANALYZE): see
        ``Database.refresh_statistics``), without waiting for it."""
        if self._db.is_sqlite:
            return
        self._submit(partial(self._db.refresh_statistics, *tables, vacuum=vacuum))

    def checkpoint(self) -> None:
        """On SQLite, after a commit: copy the log into the database file, without waiting
        for it; nothing if the last checkpoint (or anything else) still runs."""
        if not self._db.is_sqlite or self._busy():
            return
        self._submit(self._db.checkpoint_wal)

    def _busy(self) -> bool:
        return self._running is not None and not self._running.done()

    def _submit(self, work: Callable[[], None]) -> None:
        """``work`` in the helper thread, once what runs there has finished (its error raised
        here)."""
        self._wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="idsync-upkeep")
        context = contextvars.copy_context()  # the cycle's tracking ID and log fields
        self._running = self._pool.submit(context.run, work)

    def _wait(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.result()

    def __enter__(self) -> Upkeep:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """The last refresh or checkpoint finished and the thread stopped; its error
        raised, unless another is on its way out."""
        try:
            if kind is None:
                self._wait()
            else:
                with suppress(Exception):
                    self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
