"""The org's API usage: the `Sforce-Limit-Info` header and the `limits` resource."""

from __future__ import annotations

import re
from typing import NamedTuple

_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")


class ApiUsage(NamedTuple):
    """Daily API requests used and allowed, as Salesforce reported them last."""

    used: int
    max: int

    @property
    def remaining(self) -> int:
        return max(self.max - self.used, 0)

    @property
    def remaining_fraction(self) -> float:
        """Share of the daily allowance still unused, 0.0 to 1.0."""
        return self.remaining / self.max if self.max else 0.0


def parse_limit_info(header: str | None) -> ApiUsage | None:
    """`api-usage=18/5000` (possibly followed by `; per-app-api-usage=...`) -> ApiUsage(18, 5000)."""
    if not header:
        return None
    match = _API_USAGE.search(header)
    return ApiUsage(int(match.group(1)), int(match.group(2))) if match else None


def daily_api_usage(limits: dict) -> ApiUsage | None:
    """ApiUsage from a `limits` resource answer (its DailyApiRequests entry)."""
    entry = limits.get("DailyApiRequests")
    if not isinstance(entry, dict) or "Max" not in entry:
        return None
    maximum = int(entry["Max"])
    return ApiUsage(maximum - int(entry.get("Remaining", maximum)), maximum)
