"""A record's send outcome on its model row: `sync_status` and `sync_error`.

`sync_status` is `ok`, `pending`, `error` or `skipped:<reason>` (e.g. `skipped:no_email`);
`sync_error` is JSON in Salesforce's error shape: {"statusCode", "message", "fields"}.
Setting them changes neither `origin` nor `updated_at`, so it never enters the outbox.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform.schema import PlatformSchema

_STATUS = re.compile(r"^(ok|pending|error|skipped:[a-z0-9_][a-z0-9_ .-]*)$")


def check_status(status: str) -> str:
    if not _STATUS.match(status):
        raise ValueError(f"sync_status must be ok, pending, error or skipped:<reason>, not {status!r}")
    return status


def set_sync_status(conn: Connection, schema: PlatformSchema, model: str, record_id: int, status: str,
                    error: dict[str, Any] | None = None, *, salesforce_id: str | None = None,
                    sent_modstamp: datetime | None = None) -> None:
    """Record the send outcome of one row (and, after a write, its Salesforce Id and our write's modstamp)."""
    table = schema.model(model)
    values: dict[str, Any] = {"sync_status": check_status(status),
                              "sync_error": None if error is None else json.dumps(error, sort_keys=True)}
    if salesforce_id is not None:
        values["salesforce_id"] = salesforce_id
    if sent_modstamp is not None:
        stored = table.c.sf_sent_modstamp
        new = sa.literal(sent_modstamp, type_=stored.type)
        values["sf_sent_modstamp"] = sa.case((stored.is_(None) | (stored < new), new), else_=stored)
    result = conn.execute(table.update().where(table.c.id == record_id).values(**values))
    if result.rowcount == 0:
        raise KeyError(f"model {model} has no record with id {record_id}")


def records_with_status(conn: Connection, schema: PlatformSchema, model: str, status: str) -> list[dict[str, Any]]:
    """Rows whose sync_status is `status`; `skipped` matches every `skipped:<reason>`.
    Each dict has id, salesforce_id, sync_status and the decoded sync_error."""
    table = schema.model(model)
    condition = (table.c.sync_status.like("skipped:%") if status == "skipped"
                 else table.c.sync_status == check_status(status))
    query = sa.select(table.c.id, table.c.salesforce_id, table.c.sync_status, table.c.sync_error).where(
        condition).order_by(table.c.id)
    return [
        {"id": row.id, "salesforce_id": row.salesforce_id, "sync_status": row.sync_status,
         "sync_error": None if row.sync_error is None else json.loads(row.sync_error)}
        for row in conn.execute(query)
    ]
