"""Fetch ahead (sync/prefetch.py): order, overlap, a bounded queue, errors in place, and a clean stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from crm_sync.sync.prefetch import prefetched

WAIT_S = 10


class Source:
    """A page source that records what it produced and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced: list[int] = []
        self.closed = threading.Event()
        self.produced_one_more = threading.Event()
        self.thread_names: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        try:
            for number in range(self.count):
                if number == self.fail_at:
                    raise ConnectionError(f"page {number} never came")
                self.thread_names.add(threading.current_thread().name)
                self.produced.append(number)
                if number == 1:
                    self.produced_one_more.set()
                yield number
        finally:
            self.closed.set()


def _fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "crm-sync-fetch"]


def test_pages_come_in_order_each_once_and_the_thread_ends() -> None:
    source = Source(25)
    assert list(prefetched(source)) == list(range(25))
    assert source.closed.is_set() and source.thread_names == {"crm-sync-fetch"} and not _fetch_threads()


def test_the_next_page_is_fetched_while_this_one_is_applied() -> None:
    source = Source(5)
    pages = prefetched(source)
    assert next(pages) == 0
    # The consumer still holds page 0 (it is "applying"); page 1 arrives meanwhile, in the other thread.
    assert source.produced_one_more.wait(WAIT_S)
    assert list(pages) == [1, 2, 3, 4]


def test_at_most_depth_pages_wait_in_the_queue() -> None:
    source = Source(1000)
    pages = prefetched(source, depth=3)
    assert next(pages) == 0
    deadline = time.monotonic() + WAIT_S
    while len(source.produced) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # give a runaway producer time to show itself
    assert 4 <= len(source.produced) <= 1 + 3 + 1  # the one in hand, a full queue, one waiting to be put
    pages.close()
    assert source.closed.is_set() and not _fetch_threads()


def test_a_source_error_comes_after_the_pages_before_it() -> None:
    got = []
    with pytest.raises(ConnectionError, match="page 3 never came"):
        for page in prefetched(Source(10, fail_at=3)):
            got.append(page)
    assert got == [0, 1, 2] and not _fetch_threads()


def test_a_consumer_that_stops_early_stops_the_fetch() -> None:
    source = Source(1000)
    pages = prefetched(source)
    for page in pages:
        if page == 2:
            break
    pages.close()  # what a failed apply's caller does once its traceback is gone
    assert source.closed.wait(WAIT_S) and not _fetch_threads()
    assert len(source.produced) <= 2 + 1 + 2 + 1  # no fetching on past the queue's depth


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth must be at least 1"):
        prefetched(Source(1), depth=0).__next__()
