"""Receive cursors: how far each section has been applied, per modstamp field and per partition day.

The cursor of (section, modstamp field) is the upper bound of the last applied window; it is
advanced inside the transaction that applies the window's page, and never moves backwards.
The partition cursor keeps the last applied window of each (section, modstamp field, UTC day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform import dialect
from crm_sync.platform.schema import PlatformSchema
from crm_sync.platform.types import utc_now
from crm_sync.settings import MODSTAMP_FIELDS


@dataclass(frozen=True)
class CursorUpdate:
    """Where the cursor goes when a page is applied: the window's upper bound (not the largest modstamp seen).

    With `partition_day`, the partition cursor of that day records the window too.
    """

    upper_bound: datetime
    partition_day: date | None = None
    window_start: datetime | None = None
    first_partition_day: date | None = None  # a window over several days closes each day from this one on

    def __post_init__(self) -> None:
        for name in ("upper_bound", "window_start"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"CursorUpdate.{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True)
class PartitionWindow:
    """The last applied window of one partition day."""

    day: date
    window_start: datetime | None
    window_end: datetime
    applied_at: datetime


def check_modstamp_field(modstamp_field: str) -> str:
    if modstamp_field not in MODSTAMP_FIELDS:
        raise ValueError(f"modstamp_field must be one of {', '.join(MODSTAMP_FIELDS)}, not {modstamp_field!r}")
    return modstamp_field


def advance(conn: Connection, schema: PlatformSchema, section: str, modstamp_field: str,
            update: CursorUpdate) -> None:
    """Move the cursor (and the partition cursor) forward to `update`, inside the caller's transaction."""
    check_modstamp_field(modstamp_field)
    name = conn.dialect.name
    now = utc_now()
    table = schema.sync_cursor
    stmt = dialect.insert(table, name).values(
        section=section, modstamp_field=modstamp_field, value=update.upper_bound, updated_at=now)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[table.c.section, table.c.modstamp_field],
        set_={"value": sa.case((stmt.excluded.value > table.c.value, stmt.excluded.value), else_=table.c.value),
              "updated_at": stmt.excluded.updated_at},
    ))
    if update.partition_day is None:
        return
    part = schema.partition_cursor
    stmt = dialect.insert(part, name)
    newer = stmt.excluded.window_end >= part.c.window_end
    # executemany over one compiled statement: a range of years closes hundreds of days at once, and one
    # multi-VALUES statement would be compiled afresh (thousands of bind parameters) every time
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[part.c.section, part.c.modstamp_field, part.c.day],
        set_={"window_start": sa.case((newer, stmt.excluded.window_start), else_=part.c.window_start),
              "window_end": sa.case((newer, stmt.excluded.window_end), else_=part.c.window_end),
              "applied_at": stmt.excluded.applied_at},
    ), _partition_rows(section, modstamp_field, update, now))


def _partition_rows(section: str, modstamp_field: str, update: CursorUpdate, now: datetime) -> list[dict]:
    """One partition-cursor row per day the update closes: each earlier day up to its midnight, the last
    day up to the window's upper bound."""
    last = update.partition_day
    first = update.first_partition_day or last
    rows = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        start = datetime.combine(day, time.min, tzinfo=UTC)
        rows.append({"section": section, "modstamp_field": modstamp_field, "day": day,
                     "window_start": max(update.window_start, start) if update.window_start else start,
                     "window_end": update.upper_bound if day == last else start + timedelta(days=1),
                     "applied_at": now})
    return rows


def get_cursor(conn: Connection, schema: PlatformSchema, section: str, modstamp_field: str) -> datetime | None:
    """The cursor of a section for one modstamp field, or None before the first applied window."""
    table = schema.sync_cursor
    return conn.execute(sa.select(table.c.value).where(
        table.c.section == section, table.c.modstamp_field == check_modstamp_field(modstamp_field))).scalar()


def get_partition_window(conn: Connection, schema: PlatformSchema, section: str, modstamp_field: str,
                         day: date) -> PartitionWindow | None:
    """The last applied window of one partition day, or None."""
    part = schema.partition_cursor
    row = conn.execute(sa.select(part.c.day, part.c.window_start, part.c.window_end, part.c.applied_at).where(
        part.c.section == section, part.c.modstamp_field == check_modstamp_field(modstamp_field),
        part.c.day == day)).first()
    return PartitionWindow(*row) if row else None


def applied_partition_ends(conn: Connection, schema: PlatformSchema, section: str,
                           modstamp_field: str) -> dict[date, datetime]:
    """Every partition day of a section that has a row, with the end of its applied window."""
    part = schema.partition_cursor
    rows = conn.execute(sa.select(part.c.day, part.c.window_end).where(
        part.c.section == section, part.c.modstamp_field == check_modstamp_field(modstamp_field)))
    return {day: window_end for day, window_end in rows}


def owe_partitions(conn: Connection, schema: PlatformSchema, section: str, modstamp_field: str,
                   days: list[date]) -> None:
    """Record that these partition days are due (a row whose window ends at the day's start), leaving
    days that already have a row as they are: a planned day stays owed until a run applies it."""
    if not days:
        return
    part = schema.partition_cursor
    now = utc_now()
    rows = [{"section": section, "modstamp_field": check_modstamp_field(modstamp_field), "day": day,
             "window_start": None, "window_end": datetime.combine(day, time.min, tzinfo=UTC), "applied_at": now}
            for day in days]
    conn.execute(dialect.insert(part, conn.dialect.name).values(rows).on_conflict_do_nothing(
        index_elements=[part.c.section, part.c.modstamp_field, part.c.day]))
