"""When a read refreshes PostgreSQL's planner statistics: at every doubling of its pages,
however long it runs (a million-user directory's group phase runs to tens of thousands
of pages, and its first hundreds hold a single group)."""

from __future__ import annotations

from idsync.sync.engine import statistics_due


def test_a_read_page_by_page_refreshes_at_every_power_of_two_without_end() -> None:
    due = [pages for pages in range(1, 40_001) if statistics_due(pages - 1, pages)]
    assert due == [2**k for k in range(1, 16)]


def test_a_batch_of_several_pages_refreshes_once_if_it_passed_a_mark() -> None:
    assert statistics_due(3, 9)  # passed 4 and 8: one refresh
    assert not statistics_due(9, 15)
    assert statistics_due(1_000, 1_030)  # passed 1024, beyond the old last mark (512)


def test_a_one_page_read_refreshes_nothing() -> None:
    assert not statistics_due(0, 1)
