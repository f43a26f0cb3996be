"""API call accounting against the org's daily limit, and the `Sforce-Limit-Info` header."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime

from crm_sync.sandbox import timefmt
from crm_sync.sandbox.errors import SalesforceError

DEFAULT_DAILY_API_REQUESTS = 5_000_000


def limit_exceeded() -> SalesforceError:
    """Salesforce's answer once the daily API request limit is spent."""
    return SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


class ApiUsage:
    """Counts API requests per UTC day against a daily maximum (thread-safe).

    Every authenticated REST / Bulk API 2.0 / Bulk API 1.0 HTTP request counts one (a /composite
    request counts one, as does each Bulk 1.0 request: job, batch, status, result); a SOAP
    `login()` counts one (`record`, never refused: it is how a client gets in to read /limits);
    the OAuth token endpoint and the /__sandbox__ admin surface do not count. The count starts
    again at 0 when the UTC day changes.
    """

    def __init__(self, daily_max: int = DEFAULT_DAILY_API_REQUESTS,
                 clock: Callable[[], datetime] = timefmt.now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._max = daily_max
        self._used = 0
        self._day: date = clock().date()
        self._counters: dict[str, int] = {}

    def _roll_day(self) -> None:
        today = self._clock().date()
        if today != self._day:
            self._day = today
            self._used = 0
            self._counters.clear()

    def spend(self) -> None:
        """Count one API request, or raise REQUEST_LIMIT_EXCEEDED once the limit is spent."""
        with self._lock:
            self._roll_day()
            if self._used >= self._max:
                raise limit_exceeded()
            self._used += 1

    def record(self) -> None:
        """Count one API call that is never refused (a SOAP login)."""
        with self._lock:
            self._roll_day()
            self._used += 1

    def count(self, counter: str, amount: int = 1) -> None:
        """Count toward another daily counter (bulk query jobs, bulk batches)."""
        with self._lock:
            self._roll_day()
            self._counters[counter] = self._counters.get(counter, 0) + amount

    def counter(self, counter: str) -> int:
        with self._lock:
            self._roll_day()
            return self._counters.get(counter, 0)

    def set(self, *, daily_max: int | None = None, used: int | None = None) -> None:
        """Change the daily maximum and/or the count used so far (admin)."""
        with self._lock:
            self._roll_day()
            if daily_max is not None:
                if daily_max < 0:
                    raise ValueError("daily_api_requests must be >= 0")
                self._max = daily_max
            if used is not None:
                if used < 0:
                    raise ValueError("used must be >= 0")
                self._used = used

    def reset(self) -> None:
        with self._lock:
            self._used = 0
            self._counters.clear()

    @property
    def used(self) -> int:
        with self._lock:
            self._roll_day()
            return self._used

    @property
    def daily_max(self) -> int:
        return self._max

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            self._roll_day()
            return {"used": self._used, "max": self._max, "remaining": max(self._max - self._used, 0)}

    def header(self) -> str:
        """The `Sforce-Limit-Info` header value, e.g. `api-usage=18/5000`."""
        with self._lock:
            return f"api-usage={self._used}/{self._max}"

    def limits_resource(self) -> dict:
        """The body of GET /limits: the standard keys with Max and Remaining."""
        with self._lock:
            self._roll_day()
            used = self._used
            daily_max = self._max
            counters = dict(self._counters)

        def entry(maximum: int, spent: int) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(maximum - spent, 0)}

        return {
            "ConcurrentAsyncGetReportInstances": entry(200, 0),
            "ConcurrentSyncReportRuns": entry(20, 0),
            "DailyApiRequests": entry(daily_max, used),
            "DailyAsyncApexExecutions": entry(250000, 0),
            "DailyBulkApiBatches": entry(15000, counters.get("bulk_batches", 0)),
            "DailyBulkV2QueryFileStorageMB": entry(976562, counters.get("bulk_query_mb", 0)),
            "DailyBulkV2QueryJobs": entry(10000, counters.get("bulk_query_jobs", 0)),
            "DataStorageMB": entry(1024, 0),
            "FileStorageMB": entry(1024, 0),
            "HourlyODataCallout": entry(10000, 0),
        }
