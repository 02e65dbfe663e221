"""Reading one page ahead: order, overlap, errors where they belong, and cleanup."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from idsync.sync.prefetch import read_ahead


def test_pages_come_in_order_and_the_next_is_read_while_the_current_is_used() -> None:
    asked: list[int] = []
    second_read = threading.Event()

    def pages() -> Iterator[int]:
        for n in range(3):
            asked.append(n)
            if n == 1:
                second_read.set()
            yield n

    with read_ahead(pages()) as ahead:
        first = next(ahead)
        # While the caller still holds the first page, the second is read.
        assert second_read.wait(5)
        assert first == 0
        assert list(ahead) == [1, 2]
    assert asked == [0, 1, 2]


def test_an_error_comes_when_its_page_is_reached_and_is_never_ready() -> None:
    failed = threading.Event()

    def pages() -> Iterator[int]:
        yield 1
        failed.set()
        raise RuntimeError("the directory refused")

    with read_ahead(pages()) as ahead:
        assert next(ahead) == 1  # the page before the error arrives whole
        assert failed.wait(5)
        assert not ahead.ready()  # a transaction never takes the failed page
        with pytest.raises(RuntimeError, match="refused"):
            next(ahead)


def test_the_end_is_ready_and_the_source_is_closed_whatever_happens() -> None:
    closed: list[bool] = []

    def pages() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    def engine_stops() -> None:
        with read_ahead(pages()) as ahead:
            next(ahead)
            raise ValueError("the engine stopped")

    with pytest.raises(ValueError, match="stopped"):
        engine_stops()
    assert closed == [True]

    with read_ahead(iter([7])) as ahead:
        assert next(ahead) == 7
        while not ahead.ready():
            threading.Event().wait(0.01)
        assert next(ahead, None) is None
