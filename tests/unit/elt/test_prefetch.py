"""Pages read ahead in a thread: in order, their errors raised to the reader, no thread left."""

from __future__ import annotations

import threading
import time

import pytest

from cdpflow.elt.prefetch import prefetched


def _pages(n: int, fail_at: int | None = None):  # type: ignore[no-untyped-def]
    for i in range(n):
        if i == fail_at:
            raise ConnectionError(f"page {i} refused")
        yield i


def test_every_page_arrives_in_order():
    assert list(prefetched(_pages(50))) == list(range(50))


def test_an_error_of_the_pages_is_raised_where_they_are_read():
    seen = []
    with pytest.raises(ConnectionError, match="page 3 refused"):
        for page in prefetched(_pages(10, fail_at=3)):
            seen.append(page)
    assert seen == [0, 1, 2]


def test_leaving_early_stops_the_reading_thread():
    before = threading.active_count()
    for page in prefetched(_pages(1_000)):
        if page == 2:
            break
    time.sleep(0.3)
    assert threading.active_count() == before
