"""Record claims of the push: one pusher at a time per record, fenced.

A push claims whole records (`claim`): a record whose claim is still leased by another token is not
claimed. Every claim of a record raises its `fence` by one; a push holds (token, fence) and writes its
acknowledgement only while that pair still holds (`holds`, checked in the acknowledging transaction), so
a run whose lease ran out and was taken over can never acknowledge over the newer run. `renew` extends
the lease of every record of a token (a keep-alive while a long Bulk job runs).

While a create's outcome is unknown (written, no acknowledgement yet) the claim row keeps when it was
written, the key and the values (`start_creates`); it survives the lease, so the next push and the receive
side can look the record up instead of creating it again. `release` ends a claim; with `create_known`
it also forgets the create (acknowledged, or refused by Salesforce).

An update is kept the same way (`start_writes`): its Salesforce values and the modstamp the push read
right before it, until the acknowledgement deletes the claim row. A run that dies in between leaves
them for the next push (`pending_writes`), which cannot otherwise tell whether the write landed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform import dialect
from crm_sync.platform.schema import PlatformSchema
from crm_sync.platform.types import utc_now

# the values kept on a claim, as json.dumps(values, default=str, sort_keys=True) writes them (one encoder
# for every row: dumps with options builds a new one per call)
_VALUES_JSON = json.JSONEncoder(default=str, sort_keys=True)


@dataclass(frozen=True)
class Claim:
    """A held claim of one record."""

    model: str
    record_id: int
    token: str
    fence: int


@dataclass(frozen=True)
class PendingCreate:
    """A create written by a push whose outcome is not known yet."""

    model: str
    record_id: int
    started_at: datetime
    key: str | None
    values: dict[str, Any]


def claim(conn: Connection, schema: PlatformSchema, model: str, record_ids: Iterable[int], token: str, *,
          lease_seconds: int, now: datetime | None = None) -> dict[int, Claim]:
    """Claim the records not leased by anyone else; return the claims taken, by record id."""
    now = now or utc_now()
    table = schema.push_claim
    ids = sorted(set(record_ids))
    if not ids:
        return {}
    until = now + timedelta(seconds=lease_seconds)
    stmt = dialect.insert(table, conn.dialect.name)
    free = sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now, table.c.token == token)
    conn.execute(stmt.on_conflict_do_update(  # executemany: one compiled statement whatever the count
        index_elements=[table.c.model, table.c.record_id],
        set_={"token": stmt.excluded.token, "fence": table.c.fence + 1, "claimed_until": stmt.excluded.claimed_until},
        where=free), [{"model": model, "record_id": i, "token": token, "fence": 1, "claimed_until": until} for i in ids])
    rows = conn.execute(sa.select(table.c.record_id, table.c.fence).where(
        table.c.model == model, table.c.token == token, table.c.record_id.in_(ids)))
    return {record_id: Claim(model, record_id, token, fence) for record_id, fence in rows}


def holds(conn: Connection, schema: PlatformSchema, held: Claim, *, lock: bool = True) -> bool:
    """True while `held` is the record's current claim (locked for the rest of the transaction)."""
    table = schema.push_claim
    query = sa.select(table.c.fence).where(table.c.model == held.model, table.c.record_id == held.record_id,
                                           table.c.token == held.token, table.c.fence == held.fence)
    if lock and not dialect.is_sqlite(conn):
        query = query.with_for_update()
    return conn.execute(query).first() is not None


def holding(conn: Connection, schema: PlatformSchema, model: str, held: Sequence[Claim], *,
            lock: bool = True) -> set[int]:
    """The record ids of `held` (claims of one model) that are still their record's current claim, in one
    SELECT (those rows locked for the rest of the transaction, as in `holds`)."""
    if not held:
        return set()
    table = schema.push_claim
    wanted = {(c.record_id, c.token, c.fence) for c in held}
    query = sa.select(table.c.record_id, table.c.token, table.c.fence).where(
        table.c.model == model, table.c.record_id.in_(sorted({c.record_id for c in held}))
    ).order_by(table.c.record_id)  # one lock order for every pusher
    if lock and not dialect.is_sqlite(conn):
        query = query.with_for_update()
    return {record_id for record_id, token, fence in conn.execute(query) if (record_id, token, fence) in wanted}


def renew(conn: Connection, schema: PlatformSchema, token: str, *, lease_seconds: int,
          now: datetime | None = None) -> int:
    """Extend the lease of every record claimed with `token`; return how many."""
    now = now or utc_now()
    table = schema.push_claim
    return conn.execute(table.update().where(table.c.token == token)
                        .values(claimed_until=now + timedelta(seconds=lease_seconds))).rowcount


def _update_held(conn: Connection, schema: PlatformSchema, rows: Sequence[tuple[Claim, dict[str, Any]]]) -> None:
    """Set columns on each claim row while its (token, fence) holds: one statement, executemany."""
    if not rows:
        return
    table = schema.push_claim
    names = sorted(rows[0][1])
    stmt = table.update().where(
        table.c.model == sa.bindparam("h_model"), table.c.record_id == sa.bindparam("h_record_id"),
        table.c.token == sa.bindparam("h_token"), table.c.fence == sa.bindparam("h_fence"),
    ).values({name: sa.bindparam(f"v_{name}") for name in names})
    conn.execute(stmt, [{"h_model": held.model, "h_record_id": held.record_id, "h_token": held.token,
                         "h_fence": held.fence, **{f"v_{name}": values[name] for name in names}}
                        for held, values in rows])


def start_creates(conn: Connection, schema: PlatformSchema, creates: Sequence[tuple[Claim, str | None, dict[str, Any]]],
                  *, at: datetime) -> None:
    """Record the creates about to be written: (claim, key, Salesforce values) each, while the claim holds
    (one statement, executemany)."""
    _update_held(conn, schema, [(held, {"create_started_at": at, "create_key": key,
                                        "create_values": _VALUES_JSON.encode(values)})
                                for held, key, values in creates])


@dataclass(frozen=True)
class PendingWrite:
    """An update written by a push whose acknowledgement never came (the run died, or is still running)."""

    model: str
    record_id: int
    started_at: datetime
    seen_modstamp: datetime | None  # Salesforce's latest modstamp of the record, read before the write
    values: dict[str, Any]  # Salesforce field -> JSON value written


def start_writes(conn: Connection, schema: PlatformSchema,
                 writes: Sequence[tuple[Claim, dict[str, Any], datetime | None]], *, at: datetime) -> None:
    """Record the updates about to be written: (claim, Salesforce values, modstamp seen) each, while the claim
    holds (one statement, executemany)."""
    _update_held(conn, schema, [(held, {"write_started_at": at, "write_seen_modstamp": seen,
                                        "write_values": _VALUES_JSON.encode(values)})
                                for held, values, seen in writes])


def pending_writes(conn: Connection, schema: PlatformSchema, model: str,
                   record_ids: Sequence[int]) -> dict[int, PendingWrite]:
    """The unacknowledged updates of these records, by record id."""
    table = schema.push_claim
    query = sa.select(table).where(table.c.model == model, table.c.write_started_at.is_not(None),
                                   table.c.record_id.in_(list(record_ids)))
    return {row.record_id: PendingWrite(model, row.record_id, row.write_started_at, row.write_seen_modstamp,
                                        json.loads(row.write_values or "{}"))
            for row in conn.execute(query)}


def pending_writes_by_salesforce_id(conn: Connection, schema: PlatformSchema, model: str
                                    ) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every unacknowledged update of a model's linked records: Salesforce Id -> (record id, values written).
    Few rows: only pushes that died (or are running) between a write and its acknowledgement leave them."""
    table, target = schema.push_claim, schema.model(model)
    query = (sa.select(target.c.salesforce_id, table.c.record_id, table.c.write_values)
             .join(target, target.c.id == table.c.record_id)
             .where(table.c.model == model, table.c.write_started_at.is_not(None),
                    target.c.salesforce_id.is_not(None)))
    return {row.salesforce_id: (row.record_id, json.loads(row.write_values or "{}")) for row in conn.execute(query)}


def release(conn: Connection, schema: PlatformSchema, held: Claim, *, create_known: bool) -> bool:
    """End a claim (only while it holds); `create_known` also forgets a pending create. True if it held."""
    table = schema.push_claim
    mine = sa.and_(table.c.model == held.model, table.c.record_id == held.record_id,
                   table.c.token == held.token, table.c.fence == held.fence)
    if create_known:
        return conn.execute(table.delete().where(mine)).rowcount == 1
    return conn.execute(table.update().where(mine).values(token=None, claimed_until=None)).rowcount == 1


def release_all(conn: Connection, schema: PlatformSchema, token: str) -> int:
    """End every claim of a token that is still held, keeping pending creates (a run that stops early)."""
    table = schema.push_claim
    return conn.execute(table.update().where(table.c.token == token)
                        .values(token=None, claimed_until=None)).rowcount


def pending_creates(conn: Connection, schema: PlatformSchema, model: str,
                    record_ids: Sequence[int] | None = None) -> dict[int, PendingCreate]:
    """The creates of a model whose outcome is unknown, by record id."""
    table = schema.push_claim
    query = sa.select(table).where(table.c.model == model, table.c.create_started_at.is_not(None))
    if record_ids is not None:
        query = query.where(table.c.record_id.in_(list(record_ids)))
    return {row.record_id: PendingCreate(model, row.record_id, row.create_started_at, row.create_key,
                                         json.loads(row.create_values or "{}"))
            for row in conn.execute(query)}


def forget_create(conn: Connection, schema: PlatformSchema, model: str, record_id: int) -> None:
    """The pending create of a record was found (linked): it is known now."""
    table = schema.push_claim
    conn.execute(table.update().where(table.c.model == model, table.c.record_id == record_id).values(
        create_started_at=None, create_key=None, create_values=None))
