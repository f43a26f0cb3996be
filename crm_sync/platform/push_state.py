"""The send side's writes to model rows: what is pending, and moving the last-agreed base.

- `pending_columns`: a record's columns the platform changed since the base (current <> base), whoever
  wrote them; for a record not in Salesforce yet, every sent column that has a value.
- `acknowledge`: after Salesforce accepted a write, in ONE transaction: the base of each sent column
  becomes the value sent (not the current value: an edit made during the push stays pending), the
  Salesforce Id and status are stored, and, while the push's claim still holds, the claim and the
  outbox rows it covered are removed. When the claim was lost meanwhile (a slower run whose lease was
  taken over), the base still records what this write put in Salesforce and an outbox row wakes the
  record, so the current values are sent again after it: a stale write can never become the agreed state.
- `acknowledge_many`: the same for many records of one section in one transaction, set-based (one
  SELECT of the claims, executemany for the rows, one DELETE each for claims and outbox rows); a record
  whose row is gone meanwhile is only released.
- `take_salesforce`: a conflict Salesforce won at push time: its values become current and base.
None of these writes enter the outbox themselves (origin `salesforce`, or no send column changes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform import claims, outbox, record_errors
from crm_sync.platform.schema import PlatformSchema, base_column
from crm_sync.platform.types import utc_now
from crm_sync.settings import Section


def pending_columns(section: Section, row: Mapping[str, Any], send_columns: Sequence[str] | None = None
                    ) -> list[str]:
    """The sent columns of `row` that the platform changed since the last-agreed base (`send_columns`:
    the section's send columns, when the caller has them already)."""
    columns = send_columns if send_columns is not None else [f.column for f in section.send_fields()]
    if not row.get("salesforce_id"):
        return [c for c in columns if row.get(c) is not None]
    return [c for c in columns if row.get(c) != row.get(base_column(c))]


def pending_condition(table: sa.Table, section: Section) -> sa.ColumnElement[bool]:
    """SQL: the row has at least one sent column whose value differs from its base."""
    terms = [table.c[c].is_distinct_from(table.c[base_column(c)]) for c in (f.column for f in section.send_fields())]
    return sa.or_(*terms) if terms else sa.false()


def acknowledge(conn: Connection, schema: PlatformSchema, section: Section, held: claims.Claim | None, *,
                salesforce_id: str | None, sent: Mapping[str, Any], sent_modstamp: datetime | None,
                outbox_ids: Sequence[int], outbox_token: str | None) -> bool:
    """Record an accepted write (see the module docstring); True when the claim still held."""
    record_id = held.record_id if held else None
    table = schema.model(section.model)
    if held is None:
        raise ValueError("a push acknowledges only records it has claimed")
    still_held = claims.holds(conn, schema, held)
    if sent:
        conn.execute(table.update().where(table.c.id == record_id).values(
            {base_column(c): v for c, v in sent.items()}))
    record_errors.set_sync_status(conn, schema, section.model, record_id, "ok", None,
                                  salesforce_id=salesforce_id, sent_modstamp=sent_modstamp)
    if still_held:
        claims.release(conn, schema, held, create_known=True)
        if outbox_token is not None:
            outbox.complete(conn, schema, list(outbox_ids), outbox_token)
    else:
        claims.forget_create(conn, schema, section.model, record_id)
        wake(conn, schema, section.model, record_id, list(sent))
    return still_held


@dataclass(frozen=True)
class Accepted:
    """One write Salesforce accepted: what `acknowledge` takes for one record."""

    claim: claims.Claim
    salesforce_id: str | None
    sent: Mapping[str, Any]
    sent_modstamp: datetime | None
    outbox_ids: Sequence[int]

    @property
    def record_id(self) -> int:
        return self.claim.record_id


def acknowledge_many(conn: Connection, schema: PlatformSchema, section: Section, accepted: Sequence[Accepted], *,
                     outbox_token: str | None) -> set[int]:
    """`acknowledge` for many records of one section in this transaction; the ids whose row still exists.

    Same rules per record: base := sent, status ok, Id and modstamp stored; the claim and its outbox rows
    removed only where the claim (token and fence) still holds, else the create is forgotten and the
    record woken. Raises IntegrityError when a Salesforce Id is held by another row (the caller then
    acknowledges one by one).
    """
    if not accepted:
        return set()
    table = schema.model(section.model)
    ids = sorted({a.record_id for a in accepted})
    existing = {row_id for (row_id,) in conn.execute(sa.select(table.c.id).where(table.c.id.in_(ids)))}
    held = claims.holding(conn, schema, section.model, [a.claim for a in accepted])
    present = [a for a in accepted if a.record_id in existing]
    for statement, params in _row_updates(table, present):
        conn.execute(statement, params)
    done = [a for a in accepted if a.record_id in held]
    by_token: dict[str, list[int]] = {}
    for a in done:
        by_token.setdefault(a.claim.token, []).append(a.record_id)
    claim_table = schema.push_claim
    for token, record_ids in by_token.items():
        conn.execute(claim_table.delete().where(claim_table.c.model == section.model, claim_table.c.token == token,
                                                claim_table.c.record_id.in_(record_ids)))
    if outbox_token is not None:
        outbox.complete(conn, schema, [i for a in done for i in a.outbox_ids], outbox_token)
    lost = [a for a in present if a.record_id not in held]
    if lost:
        conn.execute(claim_table.update().where(
            claim_table.c.model == section.model, claim_table.c.record_id.in_([a.record_id for a in lost])
        ).values(create_started_at=None, create_key=None, create_values=None))
        now = utc_now()
        conn.execute(schema.outbox.insert(), [
            {"model": section.model, "record_id": a.record_id, "changed_columns": json.dumps(list(a.sent)),
             "origin": "user", "created_at": now, "next_attempt_at": now, "attempts": 0, "dead": False}
            for a in lost])
    return existing


def _row_updates(table: sa.Table, accepted: Sequence[Accepted]) -> list[tuple[sa.Update, list[dict[str, Any]]]]:
    """One executemany UPDATE per shape (sent columns, Id known, modstamp known) of the acknowledgements."""
    shapes: dict[tuple, list[Accepted]] = {}
    for a in accepted:
        shapes.setdefault((tuple(sorted(a.sent)), a.salesforce_id is not None, a.sent_modstamp is not None),
                          []).append(a)
    statements = []
    for (columns, with_id, with_stamp), group in shapes.items():
        values: dict[str, Any] = {base_column(c): sa.bindparam(f"ack_{n}") for n, c in enumerate(columns)}
        values.update(sync_status="ok", sync_error=None)
        if with_id:
            values["salesforce_id"] = sa.bindparam("ack_salesforce_id")
        if with_stamp:
            stored = table.c.sf_sent_modstamp
            new = sa.bindparam("ack_stamp", type_=stored.type)
            values["sf_sent_modstamp"] = sa.case((stored.is_(None) | (stored < new), new), else_=stored)
        statement = table.update().where(table.c.id == sa.bindparam("ack_id")).values(values)
        params = []
        for a in group:
            row = {"ack_id": a.record_id, **{f"ack_{n}": a.sent[c] for n, c in enumerate(columns)}}
            if with_id:
                row["ack_salesforce_id"] = a.salesforce_id
            if with_stamp:
                row["ack_stamp"] = a.sent_modstamp
            params.append(row)
        statements.append((statement, params))
    return statements


def wake(conn: Connection, schema: PlatformSchema, model: str, record_id: int, columns: list[str]) -> None:
    """An outbox row that makes the record's pending columns go out again soon."""
    now = utc_now()
    conn.execute(schema.outbox.insert().values(
        model=model, record_id=record_id, changed_columns=json.dumps(columns), origin="user",
        created_at=now, next_attempt_at=now, attempts=0, dead=False))


def take_salesforce(conn: Connection, schema: PlatformSchema, section: Section, record_id: int,
                    values: Mapping[str, Any]) -> None:
    """Salesforce's values become the platform's current and agreed values (a conflict it won)."""
    if not values:
        return
    table = schema.model(section.model)
    conn.execute(table.update().where(table.c.id == record_id).values(
        **dict(values), **{base_column(c): v for c, v in values.items()}, origin="salesforce"))


def agree(conn: Connection, schema: PlatformSchema, section: Section, record_id: int,
          values: Mapping[str, Any]) -> None:
    """Both sides already hold these values: they become the base."""
    if values:
        table = schema.model(section.model)
        conn.execute(table.update().where(table.c.id == record_id).values(
            {base_column(c): v for c, v in values.items()}))


def store_key(conn: Connection, schema: PlatformSchema, section: Section, record_id: int, column: str,
              key: str) -> None:
    """Keep the external key a create is about to use on the row itself, before the write."""
    table = schema.model(section.model)
    conn.execute(table.update().where(table.c.id == record_id, table.c[column].is_(None))
                 .values({column: key, "origin": "salesforce"}))


def store_keys(conn: Connection, schema: PlatformSchema, section: Section, column: str,
               keys: Mapping[int, str]) -> None:
    """`store_key` for many records of one section (executemany)."""
    if not keys:
        return
    table = schema.model(section.model)
    conn.execute(table.update().where(table.c.id == sa.bindparam("key_id"), table.c[column].is_(None))
                 .values({column: sa.bindparam("key_value"), "origin": "salesforce"}),
                 [{"key_id": record_id, "key_value": key} for record_id, key in keys.items()])


def link(conn: Connection, schema: PlatformSchema, section: Section, record_id: int, salesforce_id: str) -> bool:
    """Give a row without a Salesforce Id the Id of the record its create made; False if it has one."""
    table = schema.model(section.model)
    return conn.execute(table.update().where(table.c.id == record_id, table.c.salesforce_id.is_(None))
                        .values(salesforce_id=salesforce_id)).rowcount == 1
