"""API-call accounting: how many HTTP requests a client sent, in total, per purpose and per object.

Every request sent to the instance counts once, retries included (each is a request Salesforce
counts against the org's daily limit). Logins (OAuth token / SOAP login) do not count against that
limit and are counted apart, in `logins`.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ApiCallSnapshot:
    """The counters at one moment; subtract two snapshots to get the calls made in between."""

    total: int = 0
    logins: int = 0
    by_purpose: dict[str, int] = field(default_factory=dict)
    by_object: dict[str, int] = field(default_factory=dict)

    def __sub__(self, earlier: ApiCallSnapshot) -> ApiCallSnapshot:
        return ApiCallSnapshot(
            total=self.total - earlier.total,
            logins=self.logins - earlier.logins,
            by_purpose=_minus(self.by_purpose, earlier.by_purpose),
            by_object=_minus(self.by_object, earlier.by_object),
        )


def _minus(later: dict[str, int], earlier: dict[str, int]) -> dict[str, int]:
    out = {key: count - earlier.get(key, 0) for key, count in later.items()}
    return {key: count for key, count in out.items() if count}


class ApiCallCounter:
    """Thread-safe counters of API calls: `total`, `by_purpose` (query, bulk_query, ...), `by_object`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._logins = 0
        self._by_purpose: Counter[str] = Counter()
        self._by_object: Counter[str] = Counter()

    def record(self, purpose: str, obj: str | None = None) -> None:
        """Count one API call made for `purpose` (and `obj` when it concerns one object)."""
        with self._lock:
            self._total += 1
            self._by_purpose[purpose] += 1
            if obj:
                self._by_object[obj] += 1

    def record_login(self) -> None:
        """Count one login request (not an API call against the daily limit)."""
        with self._lock:
            self._logins += 1

    @property
    def total(self) -> int:
        return self._total

    @property
    def logins(self) -> int:
        return self._logins

    def for_purpose(self, purpose: str) -> int:
        return self._by_purpose.get(purpose, 0)

    def for_object(self, obj: str) -> int:
        return self._by_object.get(obj, 0)

    def snapshot(self) -> ApiCallSnapshot:
        """A frozen copy of the counters."""
        with self._lock:
            return ApiCallSnapshot(self._total, self._logins, dict(self._by_purpose), dict(self._by_object))

    def __repr__(self) -> str:
        return f"ApiCallCounter(total={self._total}, by_purpose={dict(self._by_purpose)})"
