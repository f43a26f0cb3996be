"""The sync log: one row per event of a sync (started, completed, counts, health checks), in the platform DB."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform.schema import PlatformSchema
from crm_sync.platform.types import utc_now

EVENTS = frozenset({
    "sync_started", "sync_completed", "sync_failed", "records_imported", "records_updated",
    "records_deleted", "records_sent", "record_failed", "health_check", "field_overwritten",
    "deletes_unverified", "records_out_of_scope",
})


@dataclass(frozen=True)
class LogEntry:
    """One sync log row; `details` is the decoded JSON (or None)."""

    id: int
    at: datetime
    run_id: str | None
    section: str | None
    event: str
    count: int | None
    details: Any


def log_event(conn: Connection, schema: PlatformSchema, event: str, *, section: str | None = None,
              run_id: str | None = None, count: int | None = None, details: Any = None,
              at: datetime | None = None) -> int:
    """Append one event (one of EVENTS); `details` must be JSON-serializable. Returns the row id."""
    if event not in EVENTS:
        raise ValueError(f"unknown sync log event {event!r} (known: {', '.join(sorted(EVENTS))})")
    table = schema.sync_log
    encoded = None if details is None else json.dumps(details, default=str, sort_keys=True)
    return conn.execute(table.insert().values(
        at=at or utc_now(), run_id=run_id, section=section, event=event, count=count, details=encoded,
    ).returning(table.c.id)).scalar_one()


def read_log(conn: Connection, schema: PlatformSchema, section: str | None = None, since: datetime | None = None,
             *, event: str | None = None, run_id: str | None = None, limit: int | None = None,
             newest: bool = False) -> list[LogEntry]:
    """Log rows, oldest first, filtered by section, time (at >= since), event and run.

    `limit` keeps the oldest rows, or with `newest` the newest ones (still returned oldest first).
    """
    table = schema.sync_log
    order = (table.c.at.desc(), table.c.id.desc()) if newest else (table.c.at, table.c.id)
    query = sa.select(table).order_by(*order)
    if section is not None:
        query = query.where(table.c.section == section)
    if since is not None:
        query = query.where(table.c.at >= since)
    if event is not None:
        query = query.where(table.c.event == event)
    if run_id is not None:
        query = query.where(table.c.run_id == run_id)
    if limit is not None:
        query = query.limit(limit)
    entries = [
        LogEntry(row.id, row.at, row.run_id, row.section, row.event, row.count,
                 None if row.details is None else json.loads(row.details))
        for row in conn.execute(query)
    ]
    return entries[::-1] if newest else entries
