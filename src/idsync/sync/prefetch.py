"""Read the source's next page while the engine writes the current one.

A cycle alternates between waiting for the directory (Graph, LDAP, a SCIM
server: network and the other side's work) and writing to the hub (the
database's work). Done one after the other, a 100,000-user first cycle spends
a tenth of its time waiting for pages it could have had. One page is asked for
ahead, in one helper thread, so the two overlap; never more than one, so memory
stays one page above what a cycle holds anyway, and a checkpoint still names
only pages the engine finished (the page read ahead is read again on resume).

``concurrent.futures`` does the threading; what is ours is the discipline: the
source's iterator is only ever advanced by one thread at a time (the helper),
in the engine's context (tracking ID, log fields), and its errors surface in
the engine when it reaches the page that failed, as without read-ahead.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar, cast

T = TypeVar("T")
_END = object()


class ReadAhead(Iterator[T]):
    """``pages`` with its next item already on the way while the caller uses this one."""

    def __init__(self, pages: Iterator[T], pool: ThreadPoolExecutor) -> None:
        self._pages = pages
        self._pool = pool
        self._next: Future[object] | None = self._ask()

    def _ask(self) -> Future[object]:
        context = contextvars.copy_context()
        return self._pool.submit(context.run, self._step)

    def _step(self) -> object:
        return next(self._pages, _END)

    def __next__(self) -> T:
        if self._next is None:
            raise StopIteration
        item = self._next.result()
        if item is _END:
            self._next = None
            raise StopIteration
        self._next = self._ask()
        return cast(T, item)

    def ready(self) -> bool:
        """Whether the next page (or the end) is here: asking costs no wait and raises
        nothing. A page that failed is not "ready": the engine meets the error after
        committing what it has, not inside the transaction (which would undo it)."""
        if self._next is None:
            return True
        return self._next.done() and self._next.exception() is None

    def settle(self) -> None:
        """Wait for the page asked for ahead (its errors no longer matter)."""
        if self._next is not None:
            self._next.exception()
            self._next = None


@contextmanager
def read_ahead(pages: Iterator[T]) -> Iterator[ReadAhead[T]]:
    """Iterate ``pages`` one page ahead; on leaving, the helper thread has stopped and the
    source's iterator is closed (its connections released), whatever happened."""
    with ThreadPoolExecutor(1, thread_name_prefix="idsync-read-ahead") as pool:
        ahead = ReadAhead(pages, pool)
        try:
            yield ahead
        finally:
            ahead.settle()
            close = getattr(pages, "close", None)
            if close is not None:
                close()
