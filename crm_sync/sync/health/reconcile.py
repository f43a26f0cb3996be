"""Reconciliation: Salesforce's record count against the platform's, per partition day of the modstamp.

What is compared, per section: live (not deleted) records whose active modstamp lies in
[first partition day, cursor - lookback). Up to that bound the platform claims to be complete; later
records may still be on their way. Salesforce is asked with `SELECT COUNT()` sub-requests packed 25 to
a `/composite` call; the platform counts its rows per UTC day of the stored modstamp in one query.

The search narrows down: first one count per section over the whole range (all sections share the
first composite call), then every range whose counts differ is split in up to 25 parts and asked
again, until single days are reached or the call budget is spent (then the range itself is reported).

Records changed in Salesforce after the bound move out of their old day (or were deleted), so they
can leave the platform with MORE rows on some day than Salesforce until the next receive. The same
first call counts those `pending` records (queryAll, modstamp >= bound); a surplus on the platform
side up to that number is explained. A day with fewer platform rows than Salesforce never is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import soql
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.salesforce.composite import COMPOSITE_MAX_SUBREQUESTS
from crm_sync.salesforce.errors import SalesforceApiError
from crm_sync.settings import Section
from crm_sync.sync.mapping import with_filter
from crm_sync.sync.windows import partition_start

DAY = timedelta(days=1)
SPLIT = COMPOSITE_MAX_SUBREQUESTS  # parts a differing range is split into
DEFAULT_CALL_BUDGET = 40  # composite calls one reconciliation may spend, all sections together
MODSTAMP_COLUMNS = {"LastModifiedDate": "sf_last_modified", "SystemModstamp": "sf_system_modstamp"}


@dataclass(frozen=True)
class DayRange:
    """Partition days first..last (inclusive); their records lie in [start, end).

    The first partition of all (`first_partition`) also holds every older record, as the receive side has it.
    """

    first: date
    last: date
    end: datetime
    first_partition: date | None = None

    @property
    def start(self) -> datetime:
        return partition_start(self.first, self.first_partition)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def key(self) -> str:
        """The partition key, or Dagster's range syntax `first...last` for several days."""
        return self.first.isoformat() if self.days == 1 else f"{self.first.isoformat()}...{self.last.isoformat()}"

    def split(self, parts: int = SPLIT) -> list[DayRange]:
        """Up to `parts` consecutive ranges covering this one."""
        size = -(-self.days // min(parts, self.days))
        pieces = []
        first = self.first
        while first <= self.last:
            last = min(first + timedelta(days=size - 1), self.last)
            end = min(datetime.combine(last + DAY, time.min, tzinfo=UTC), self.end)
            pieces.append(DayRange(first, last, end, self.first_partition))
            first = last + DAY
        return pieces


@dataclass(frozen=True)
class RangeDifference:
    """A range (a day, or several when the budget ran out) whose counts differ."""

    range: DayRange
    salesforce: int
    platform: int


@dataclass
class Reconciliation:
    """The outcome for one section."""

    section: str
    until: datetime | None
    salesforce_total: int = 0
    platform_total: int = 0
    pending: int = 0
    differences: list[RangeDifference] = field(default_factory=list)
    error: str | None = None

    @property
    def missing_on_platform(self) -> int:
        return sum(max(d.salesforce - d.platform, 0) for d in self.differences)

    @property
    def surplus_on_platform(self) -> int:
        return sum(max(d.platform - d.salesforce, 0) for d in self.differences)

    @property
    def passed(self) -> bool:
        """No error, nothing missing on the platform, and any surplus explained by pending changes."""
        return self.error is None and self.missing_on_platform == 0 and self.surplus_on_platform <= self.pending

    @property
    def partition_keys(self) -> list[str]:
        return [d.range.key for d in sorted(self.differences, key=lambda d: d.range.first)]


def platform_day_counts(store: PlatformStore, section: Section, modstamp_field: str,
                        until: datetime) -> dict[date, int]:
    """Live platform rows that came from Salesforce, per UTC day of the stored modstamp before `until`."""
    table = store.table(section)
    column = table.c[MODSTAMP_COLUMNS[modstamp_field]]
    if store.engine.dialect.name == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
        day = sa.func.substr(column, 1, 10)
    else:  # the session runs in UTC (see platform.engine)
        day = sa.func.to_char(column, "YYYY-MM-DD")
    query = (sa.select(day.label("day"), sa.func.count().label("rows")).select_from(table)
             .where(table.c.salesforce_id.is_not(None), table.c.deleted.is_(sa.false()),
                    column.is_not(None), column < until)
             .group_by(day))
    counts: dict[date, int] = {}
    first_partition = store.settings.defaults.partition_start_date
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            day_of_row = max(date.fromisoformat(str(row.day)), first_partition)  # the first partition holds older
            counts[day_of_row] = counts.get(day_of_row, 0) + int(row.rows)
    return counts


def _count_query(section: Section, condition: str) -> str:
    return soql.count(section.object, with_filter(section, condition))


def _range_query(section: Section, modstamp_field: str, day_range: DayRange) -> str:
    return _count_query(section, soql.window_condition(modstamp_field, day_range.start, day_range.end))


def _total(answer: dict) -> int:
    status = int(answer.get("httpStatusCode", 0))
    body = answer.get("body")
    if status >= 400 or not isinstance(body, dict):
        error = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        raise SalesforceApiError(status, error.get("errorCode", "UNKNOWN"), error.get("message", str(body)),
                                 error.get("fields", ()), purpose="reconciliation count")
    return int(body["totalSize"])


class _Asker:
    """Packs COUNT queries into /composite calls (25 a call) within a call budget."""

    def __init__(self, client: SalesforceClient, budget: int) -> None:
        self.client = client
        self.budget = budget
        self.calls = 0

    @property
    def exhausted(self) -> bool:
        return self.calls >= self.budget

    def counts(self, queries: Sequence[str]) -> list[dict]:
        """The composite answers of `queries`, in order (as many calls as needed)."""
        answers: list[dict] = []
        for start in range(0, len(queries), COMPOSITE_MAX_SUBREQUESTS):
            chunk = queries[start:start + COMPOSITE_MAX_SUBREQUESTS]
            self.calls += 1
            answers += self.client.composite([self.client.query_subrequest(f"c{start + i}", q)
                                              for i, q in enumerate(chunk)])
        return answers


def reconcile(client: SalesforceClient, store: PlatformStore, sections: Sequence[Section], *,
              modstamp_field: str, call_budget: int = DEFAULT_CALL_BUDGET) -> list[Reconciliation]:
    """Compare Salesforce and platform counts per partition day for each section (see the module docstring)."""
    defaults = store.settings.defaults
    lookback = timedelta(minutes=defaults.lookback_minutes)
    first_day = defaults.partition_start_date
    results: dict[str, Reconciliation] = {}
    platform_days: dict[str, dict[date, int]] = {}
    # (section, range) pairs still to be counted in Salesforce
    pending_ranges: list[tuple[Section, DayRange]] = []
    first_queries: list[str] = []
    for section in sections:
        cursor = store.get_cursor(section, modstamp_field)
        if cursor is None:
            results[section.object] = Reconciliation(section.object, None)
            continue
        until = (cursor - lookback).astimezone(UTC).replace(microsecond=0)
        result = results[section.object] = Reconciliation(section.object, until)
        if until <= datetime.combine(first_day, time.min, tzinfo=UTC):
            continue
        platform_days[section.object] = platform_day_counts(store, section, modstamp_field, until)
        whole = DayRange(first_day, (until - timedelta(microseconds=1)).date(), until, first_day)
        result.platform_total = sum(platform_days[section.object].values())
        pending_ranges.append((section, whole))
        first_queries.append(_count_query(section, f"{soql.path(modstamp_field)} >= {soql.datetime_literal(until)}"))

    asker = _Asker(client, call_budget)
    first_round = True
    while pending_ranges:
        queries = [_range_query(section, modstamp_field, r) for section, r in pending_ranges]
        try:
            answers = asker.counts([*queries, *(first_queries if first_round else [])])
        except Exception as exc:  # noqa: BLE001 - any failure of the counts is the check's finding
            for section, _ in pending_ranges:
                results[section.object].error = f"{type(exc).__name__}: {exc}"
            break
        if first_round:  # the pending counts follow the range counts, one per section, in the same order
            for (section, _), answer in zip(pending_ranges, answers[len(queries):], strict=True):
                _read_total(results[section.object], answer, "pending")
        next_ranges: list[tuple[Section, DayRange]] = []
        for (section, day_range), answer in zip(pending_ranges, answers, strict=False):
            result = results[section.object]
            salesforce = _read_total(result, answer)
            if salesforce is None:
                continue
            platform = sum(n for day, n in platform_days[section.object].items()
                           if day_range.first <= day <= day_range.last)
            if first_round:
                result.salesforce_total = salesforce
            if salesforce == platform:
                continue
            if day_range.days == 1 or asker.exhausted:
                result.differences.append(RangeDifference(day_range, salesforce, platform))
            else:
                next_ranges += [(section, part) for part in day_range.split()]
        pending_ranges = [(s, r) for s, r in next_ranges if results[s.object].error is None]
        first_round = False
    return [results[s.object] for s in sections]


def _read_total(result: Reconciliation, answer: dict, attribute: str | None = None) -> int | None:
    """The count of one composite answer (stored on `result.attribute` when given); None on an error."""
    if result.error is not None:
        return None
    try:
        total = _total(answer)
    except SalesforceApiError as exc:
        result.error = str(exc)
        return None
    if attribute:
        setattr(result, attribute, total)
    return total
