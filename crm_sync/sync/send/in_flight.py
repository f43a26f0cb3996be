"""Requests in flight: call a function over items on a few threads, with a bound on outstanding calls.

`bounded_map(fn, items, limit)` yields fn(item) in the order of `items`, with at most `limit` calls
running at once (limit 1: plain sequential calls on the caller's thread). An exception of one call is
raised when its turn comes; calls not started by then are cancelled, calls already running finish first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(fn: Callable[[T], R], items: Iterable[T], limit: int, *, name: str = "in-flight") -> Iterator[R]:
    """fn over items, in order, at most `limit` at a time (see the module docstring)."""
    if limit <= 1:
        for item in items:
            yield fn(item)
        return
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix=name) as pool:
        try:
            for item in items:
                if len(pending) >= limit:
                    yield pending.popleft().result()
                pending.append(pool.submit(fn, item))
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
