"""The send side's writes to model rows: what is pending, and moving the last-agreed base.

- `pending_columns`: a record's columns the platform changed since the base (current <> base), whoever
  wrote them; for a record not in Salesforce yet, every sent column that has a value.
- `acknowledge`: after Salesforce accepted a write, in ONE transaction: the base of each sent column
  becomes the value sent (not the current value: an edit made during the push stays pending), the
  Salesforce Id and status are stored, and, while the push's claim still holds, the claim and the
  outbox rows it covered are removed. When the claim was lost meanwhile (a slower run whose lease was
  taken over), the base still records what this write put in Salesforce and an outbox row wakes the
  record, so the current values are sent again after it: a stale write can never become the agreed state.
- `take_salesforce`: a conflict Salesforce won at push time: its values become current and base.
None of these writes enter the outbox themselves (origin `salesforce`, or no send column changes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform import claims, outbox, record_errors
from crm_sync.platform.schema import PlatformSchema, base_column
from crm_sync.platform.types import utc_now
from crm_sync.settings import Section


def pending_columns(section: Section, row: Mapping[str, Any]) -> list[str]:
    """The sent columns of `row` that the platform changed since the last-agreed base."""
    columns = [f.column for f in section.send_fields()]
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


def link(conn: Connection, schema: PlatformSchema, section: Section, record_id: int, salesforce_id: str) -> bool:
    """Give a row without a Salesforce Id the Id of the record its create made; False if it has one."""
    table = schema.model(section.model)
    return conn.execute(table.update().where(table.c.id == record_id, table.c.salesforce_id.is_(None))
                        .values(salesforce_id=salesforce_id)).rowcount == 1
