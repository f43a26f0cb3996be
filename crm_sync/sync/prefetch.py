"""Fetch ahead: run a page iterator in a background thread behind a bounded queue, so fetching the next
page (network, CSV parsing in pyarrow, both release the GIL) overlaps landing and applying this one.

Guarantees:
- pages come out in the order the source yields them, each exactly once; the source's error is raised in
  the consumer at the point where its next page would have come, after the pages fetched before it;
- at most `depth` pages wait in the queue, so memory stays flat whatever the window's size;
- when the consumer stops early (an apply failed, the caller broke out), the producer fetches at most
  `depth` pages more and then waits; once the iterator is closed (or collected) the producer is told to stop,
  the source is closed in its own thread and the thread is joined.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DEPTH = 2
_POLL_SECONDS = 0.1


class _Done:
    """The source is exhausted."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(source: Iterable[T], *, depth: int = DEFAULT_DEPTH, name: str = "crm-sync-fetch") -> Iterator[T]:
    """The items of `source`, produced by a background thread at most `depth` items ahead of the consumer."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not offer(item):
                    return
            offer(_Done())
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            offer(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
