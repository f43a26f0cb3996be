"""REST query cursors: the open SQLite cursor behind each `nextRecordsUrl` locator.

A query runs once: its count and rows come from one read transaction on a reader connection of
its own, so every page is cut from the same snapshot (never an OFFSET re-run). Like Salesforce,
a locator idles out after 15 minutes and only a few stay open: opening one more closes the least
recently used. An unknown, closed or rewound locator answers INVALID_QUERY_LOCATOR. The last page
is kept, so a client retrying the same `nextRecordsUrl` gets that page again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from crm_sync.sandbox.errors import SalesforceError

IDLE_SECONDS = 15 * 60
MAX_OPEN_CURSORS = 10
DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_BATCH_SIZE = 2000


def invalid_locator() -> SalesforceError:
    return SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")


def batch_size_from_header(value: str | None) -> int:
    """The page size asked by `Sforce-Query-Options: batchSize=N`, clamped to 200..2000 as Salesforce does."""
    if not value:
        return DEFAULT_BATCH_SIZE
    for part in value.split(","):
        key, _, number = part.partition("=")
        if key.strip().lower() == "batchsize":
            try:
                size = int(number.strip())
            except ValueError:
                raise SalesforceError(400, "MALFORMED_QUERY", f"Invalid batchSize: {number.strip()!r}") from None
            return min(max(size, MIN_BATCH_SIZE), MAX_BATCH_SIZE)
    return DEFAULT_BATCH_SIZE


@dataclass
class QueryCursor:
    """One open query: its compiled form, the live SQLite cursor and how far it was read."""

    locator: str
    query: Any  # a compiled SOQL query (crm_sync.sandbox.soql)
    total: int
    batch_size: int
    endpoint: str
    _cursor: Any  # sqlite3.Cursor or _RowList: anything with fetchmany() and close()
    _exit: contextlib.ExitStack
    delivered: int = 0
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_page: tuple[int, list[dict]] | None = None
    closed: bool = False
    doomed: bool = False  # evicted while serving a page: closed when that page is done

    @property
    def done(self) -> bool:
        return self.delivered >= self.total

    def read(self, count: int, base_url: str) -> list[dict]:
        rows = self._cursor.fetchmany(count)
        records = [self.query.record(row, base_url) for row in rows]
        self.delivered += len(rows)
        if len(rows) < count:  # the snapshot held fewer rows than counted: never loop forever
            self.delivered = self.total = self.delivered
        return records

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(sqlite3.Error):
                self._cursor.close()
            with contextlib.suppress(sqlite3.Error):
                self._exit.close()


class QueryCursors:
    """The open query locators of the org (thread-safe)."""

    def __init__(self, reader: Callable[[], AbstractContextManager[sqlite3.Connection]],
                 new_locator: Callable[[], str], *, idle_seconds: float = IDLE_SECONDS,
                 max_open: int = MAX_OPEN_CURSORS, clock: Callable[[], float] = time.monotonic,
                 materialize: Callable[[], bool] = lambda: False) -> None:
        self._reader = reader
        self._materialize = materialize
        self._new_locator = new_locator
        self._idle = idle_seconds
        self._max_open = max_open
        self._clock = clock
        self._lock = threading.Lock()
        self._cursors: dict[str, QueryCursor] = {}

    def __len__(self) -> int:
        return len(self._cursors)

    def _sweep(self) -> list[QueryCursor]:
        """Take out idle cursors and, above the cap, the least recently used (caller holds the lock)."""
        now = self._clock()
        stale = [c for c in self._cursors.values() if now - c.last_used > self._idle]
        for cursor in stale:
            self._cursors.pop(cursor.locator, None)
        while len(self._cursors) >= self._max_open:
            oldest = min(self._cursors.values(), key=lambda c: c.last_used)
            self._cursors.pop(oldest.locator)
            stale.append(oldest)
        return stale

    @staticmethod
    def _close_all(cursors: list[QueryCursor]) -> None:
        for cursor in cursors:
            # a cursor busy serving a page is closed by its reader once the page is done
            if cursor.lock.acquire(blocking=False):
                try:
                    cursor.close()
                finally:
                    cursor.lock.release()
            else:
                cursor.doomed = True

    def first_page(self, query: Any, batch_size: int, base_url: str, endpoint: str) -> dict:
        """Run a compiled query in its own read snapshot; the first page in Salesforce's query shape."""
        exit_stack = contextlib.ExitStack()
        try:
            connection = exit_stack.enter_context(self._reader())
            if not connection.in_transaction:
                connection.execute("BEGIN")
                exit_stack.callback(_end_transaction, connection)
            sqlite_cursor: Any = connection.execute(query.sql, query.params)
            head = sqlite_cursor.fetchmany(batch_size + 1)
            if len(head) <= batch_size:  # one page holds it all: counted as read, no COUNT(*) run
                total = len(head)
                sqlite_cursor.close()
                sqlite_cursor = _RowList(head)
                exit_stack.close()
            else:  # the count from the same snapshot; the rows read so far are served first
                total = connection.execute(f"SELECT COUNT(*) FROM ({query.sql})", query.params).fetchone()[0]
                sqlite_cursor = _RowList(head, rest=sqlite_cursor)
                if self._materialize():  # a connection we may not keep (a write transaction's): read it all now
                    sqlite_cursor = _RowList(sqlite_cursor.fetchmany(total))
                    exit_stack.close()
        except BaseException:
            exit_stack.close()
            raise
        cursor = QueryCursor(locator=self._new_locator(), query=query, total=total, batch_size=batch_size,
                             endpoint=endpoint, _cursor=sqlite_cursor, _exit=exit_stack)
        with cursor.lock:
            records = cursor.read(batch_size, base_url)
            cursor.last_page = (0, records)
            page = self._page(cursor, records, base_url)
            if cursor.done:
                cursor.close()
                return page
        with self._lock:
            stale = self._sweep()
            self._cursors[cursor.locator] = cursor
        self._close_all(stale)
        return page

    def next_page(self, locator: str, position: int, base_url: str, batch_size: int | None = None) -> dict:
        """The page starting at `position` of an open locator (the last page again on a retry)."""
        with self._lock:
            stale = self._sweep()
            cursor = self._cursors.get(locator)
        self._close_all(stale)
        if cursor is None:
            raise invalid_locator()
        with cursor.lock:
            if cursor.closed or cursor.doomed:
                cursor.close()
                raise invalid_locator()
            cursor.last_used = self._clock()
            if cursor.last_page is not None and cursor.last_page[0] == position and position < cursor.delivered:
                records = cursor.last_page[1]
                start = position
            elif position < cursor.delivered or position > cursor.total:
                raise invalid_locator()
            else:
                while cursor.delivered < position:  # a client may skip ahead
                    cursor.read(min(position - cursor.delivered, MAX_BATCH_SIZE), base_url)
                start = cursor.delivered
                records = cursor.read(batch_size or cursor.batch_size, base_url)
                cursor.last_page = (start, records)
            page = self._page(cursor, records, base_url, start + len(records))
            if cursor.doomed or (cursor.done and start + len(records) >= cursor.total):
                with self._lock:
                    self._cursors.pop(locator, None)
                cursor.close()
            return page

    @staticmethod
    def _page(cursor: QueryCursor, records: list[dict], base_url: str, end: int | None = None) -> dict:
        end = cursor.delivered if end is None else end
        page: dict = {"totalSize": cursor.total, "done": end >= cursor.total}
        if end < cursor.total:
            page["nextRecordsUrl"] = f"{base_url}/{cursor.endpoint}/{cursor.locator}-{end}"
        page["records"] = records
        return page

    def close(self, locator: str) -> None:
        with self._lock:
            cursor = self._cursors.pop(locator, None)
        if cursor is not None:
            self._close_all([cursor])

    def close_all(self) -> None:
        with self._lock:
            cursors = list(self._cursors.values())
            self._cursors.clear()
        self._close_all(cursors)


class _RowList:
    """Rows already read, served like a cursor; then, if given, the rows of the cursor `rest`."""

    def __init__(self, rows: list, rest: Any = None) -> None:
        self._rows = rows
        self._position = 0
        self._rest = rest

    def fetchmany(self, count: int) -> list:
        rows = self._rows[self._position:self._position + count]
        self._position += len(rows)
        if len(rows) < count and self._rest is not None:
            rows = rows + self._rest.fetchmany(count - len(rows))
        return rows

    def close(self) -> None:
        self._rows = []
        if self._rest is not None:
            self._rest.close()


def _end_transaction(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if connection.in_transaction:
            connection.rollback()
