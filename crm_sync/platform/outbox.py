"""The outbox: user changes waiting to be sent to Salesforce (appended by triggers, see dialect.py).

Rows are never deleted on read. A sender claims a batch with a lease (`claim`), then either removes
the rows it sent (`complete`) or records the failure (`fail`): attempts + 1, the error, a backoff
before the next attempt, and after `max_attempts` the row is parked as a dead letter (kept, visible,
revived by the trigger when the record changes again). Changed columns are names only: a sender reads
the record's current values, so the latest value wins when several rows of one record are merged.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform import record_errors
from crm_sync.platform.schema import PlatformSchema
from crm_sync.platform.types import utc_now


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row; `changed_columns` and `last_error` decoded."""

    id: int
    model: str
    record_id: int
    changed_columns: list[str]
    origin: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    claimed_until: datetime | None
    claim_token: str | None
    last_error: dict[str, Any] | None
    dead: bool


def _entry(row: sa.Row) -> OutboxEntry:
    return OutboxEntry(
        id=row.id, model=row.model, record_id=row.record_id, changed_columns=json.loads(row.changed_columns),
        origin=row.origin, created_at=row.created_at, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        claimed_until=row.claimed_until, claim_token=row.claim_token,
        last_error=None if row.last_error is None else json.loads(row.last_error), dead=bool(row.dead),
    )


def entries(conn: Connection, schema: PlatformSchema, model: str | None = None, *,
            include_dead: bool = True) -> list[OutboxEntry]:
    """Outbox rows in order of arrival (for inspection and tests)."""
    table = schema.outbox
    query = sa.select(table).order_by(table.c.id)
    if model is not None:
        query = query.where(table.c.model == model)
    if not include_dead:
        query = query.where(table.c.dead.is_(sa.false()))
    return [_entry(row) for row in conn.execute(query)]


def column_times(conn: Connection, schema: PlatformSchema, model: str,
                 record_ids: list[int]) -> dict[int, dict[str, datetime]]:
    """Per record, when each column was last changed by an edit still in the outbox: every row counts,
    whoever holds it (a push claims whole records, so it sends fields whose rows another run leases)."""
    table = schema.outbox
    times: dict[int, dict[str, datetime]] = {}
    for start in range(0, len(record_ids), 500):
        query = sa.select(table.c.record_id, table.c.changed_columns, table.c.created_at).where(
            table.c.model == model, table.c.record_id.in_(record_ids[start:start + 500]))
        for record_id, columns, created_at in conn.execute(query):
            of_record = times.setdefault(record_id, {})
            for column in json.loads(columns):
                if column not in of_record or created_at > of_record[column]:
                    of_record[column] = created_at
    return times


def claim(conn: Connection, schema: PlatformSchema, *, limit: int, lease_seconds: int, model: str | None = None,
          now: datetime | None = None) -> tuple[str, list[OutboxEntry]]:
    """Lease up to `limit` due rows (not dead, next attempt due, not leased by someone else).

    Returns the claim token (needed to complete or fail them) and the rows, oldest first.
    On Postgres rows locked by a concurrent claimer are skipped; SQLite serializes writers.
    """
    now = now or utc_now()
    token = uuid.uuid4().hex
    table = schema.outbox
    due = (sa.select(table.c.id)
           .where(table.c.dead.is_(sa.false()), table.c.next_attempt_at <= now,
                  sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now))
           .order_by(table.c.id).limit(limit).with_for_update(skip_locked=True))
    if model is not None:
        due = due.where(table.c.model == model)
    ids = [row_id for (row_id,) in conn.execute(due)]
    if not ids:
        return token, []
    conn.execute(table.update().where(table.c.id.in_(ids))
                 .values(claim_token=token, claimed_until=now + timedelta(seconds=lease_seconds)))
    rows = conn.execute(sa.select(table).where(table.c.id.in_(ids)).order_by(table.c.id))
    return token, [_entry(row) for row in rows]


def oldest_due(conn: Connection, schema: PlatformSchema, *, now: datetime | None = None) -> datetime | None:
    """Since when the longest-waiting due row (not dead, unclaimed or lease ended) is due; None if none is.
    A read only: a poller asks this before it takes the write lock of a claim."""
    now = now or utc_now()
    table = schema.outbox
    return conn.execute(sa.select(sa.func.min(table.c.next_attempt_at)).where(
        table.c.dead.is_(sa.false()), table.c.next_attempt_at <= now,
        sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now))).scalar()


def complete(conn: Connection, schema: PlatformSchema, ids: list[int], claim_token: str) -> int:
    """Remove rows that were sent (only while the caller's claim holds); return how many."""
    table = schema.outbox
    if not ids:
        return 0
    return conn.execute(table.delete().where(table.c.id.in_(ids), table.c.claim_token == claim_token)).rowcount


def fail(conn: Connection, schema: PlatformSchema, entry_id: int, claim_token: str, error: dict[str, Any], *,
         max_attempts: int, backoff_seconds: int, max_backoff_seconds: int, now: datetime | None = None) -> bool:
    """Record a failed send of one row: attempts + 1, the error, exponential backoff, dead letter after
    `max_attempts`; the record's sync_status becomes `error` with the same error. Returns True when the
    row is now a dead letter. `error` is Salesforce's shape: {"statusCode", "message", "fields"}."""
    now = now or utc_now()
    table = schema.outbox
    row = conn.execute(sa.select(table.c.attempts, table.c.model, table.c.record_id).where(
        table.c.id == entry_id, table.c.claim_token == claim_token)).first()
    if row is None:
        raise KeyError(f"outbox row {entry_id} is not claimed with this token")
    attempts = row.attempts + 1
    dead = attempts >= max_attempts
    delay = min(max_backoff_seconds, backoff_seconds * 2 ** (attempts - 1))
    conn.execute(table.update().where(table.c.id == entry_id).values(
        attempts=attempts, last_error=json.dumps(error, sort_keys=True), dead=dead,
        next_attempt_at=now + timedelta(seconds=delay), claim_token=None, claimed_until=None))
    if row.model in schema.models:
        with contextlib.suppress(KeyError):  # the app removed the row itself
            record_errors.set_sync_status(conn, schema, row.model, row.record_id, "error", error)
    return dead


def renew(conn: Connection, schema: PlatformSchema, claim_token: str, *, lease_seconds: int,
          now: datetime | None = None) -> int:
    """Extend the lease of the rows claimed with `claim_token` (a push that is still working)."""
    now = now or utc_now()
    table = schema.outbox
    return conn.execute(table.update().where(table.c.claim_token == claim_token)
                        .values(claimed_until=now + timedelta(seconds=lease_seconds))).rowcount


def release(conn: Connection, schema: PlatformSchema, ids: list[int], claim_token: str, *,
            retry_at: datetime) -> int:
    """Give claimed rows back unsent (their record is being pushed by another run): due again at `retry_at`."""
    table = schema.outbox
    if not ids:
        return 0
    return conn.execute(table.update().where(table.c.id.in_(ids), table.c.claim_token == claim_token).values(
        claim_token=None, claimed_until=None, next_attempt_at=retry_at)).rowcount
