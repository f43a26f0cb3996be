"""Time windows of the receive side: which modstamp range a partition, a backfill or a tick fetches.

A partition is one UTC day of the modstamp. A full (backfill) fetch takes the whole day, capped at
`now - settle`. An incremental tick starts at `cursor - lookback` (Salesforce commits can land with
an earlier modstamp than records already visible); that band reaches back across midnight into the
previous partition when it overlaps it, so a record committed late at 23:58 is still fetched after
yesterday's cursor has closed. Windows are half-open: `start <= modstamp < end`.

Catch-up: a tick owes every partition from the one holding the section's cursor (less the lookback)
through today, however long the sync was paused, plus every earlier day that a tick already planned
and that has not been applied to its end (see `days_to_tick`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DAY = timedelta(days=1)
# The first partition also holds everything older than its day, so no record predates every partition.
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """A half-open modstamp range [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")

    @property
    def empty(self) -> bool:
        return self.end <= self.start

    def days(self, first_partition: date | None = None) -> list[date]:
        """The UTC days (partitions) this window touches; none before `first_partition`, which holds all older."""
        if self.empty:
            return []
        first = self.start.astimezone(UTC).date()
        if first_partition is not None:
            first = max(first, min(first_partition, self.end.astimezone(UTC).date()))
        last = (self.end - timedelta(microseconds=1)).astimezone(UTC).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def partition_start(day: date, first_partition: date | None = None) -> datetime:
    """Where a partition's window starts: its midnight, or the beginning of history for the first partition."""
    return HISTORY_START if first_partition is not None and day <= first_partition else day_start(day)


def partition_window(first_day: date, last_day: date, *, now: datetime, settle: timedelta,
                     first_partition: date | None = None) -> Window:
    """The full window of a range of day partitions (inclusive), capped at now - settle."""
    start = partition_start(first_day, first_partition)
    end = min(day_start(last_day) + DAY, now - settle)
    return Window(start, max(end, start))


def incremental_window(
    day: date, cursor: datetime | None, *, now: datetime, lookback: timedelta, settle: timedelta,
    first_partition: date | None = None,
) -> Window:
    """The window an incremental tick fetches inside one day partition, given that day's cursor."""
    full = partition_window(day, day, now=now, settle=settle, first_partition=first_partition)
    if full.start == HISTORY_START:
        return full if cursor is None else Window(max(full.start, min(cursor, full.end) - lookback), full.end)
    applied = day_start(day) if cursor is None else min(max(cursor, day_start(day)), full.end)
    return Window(applied - lookback, full.end)


def days_to_tick(
    today: date, section_cursor: datetime | None, applied: dict[date, datetime | None], *, now: datetime,
    settle: timedelta, lookback: timedelta, first_partition: date | None = None,
) -> list[date]:
    """The partitions an incremental tick materializes, oldest first; today is always among them.

    `applied` maps a partition day to the end of its applied window (None or absent: nothing applied).
    Owed: every day from the one holding `section_cursor - lookback` through today, and every earlier
    day already planned (present in `applied`) whose window has not reached its midnight, so a failed or
    skipped run is owed until it succeeds. A past day is owed only once `settle` has passed its start;
    a day whose window reached its end is done (the next day's lookback covers late commits).
    """
    if section_cursor is None:
        first = today - DAY
    else:
        first = min(today, (section_cursor - lookback).astimezone(UTC).date())
    if first_partition is not None:
        first = max(first, min(first_partition, today))
    candidates = {first + timedelta(days=i) for i in range((today - first).days)}
    candidates |= {day for day in applied if day < first and (first_partition is None or day >= first_partition)}
    due = sorted(day for day in candidates
                 if now - settle >= day_start(day) and (applied.get(day) or day_start(day)) < day_start(day) + DAY)
    return [*due, today]
