"""Rules before sending: records that are not sent, and why (stored as `sync_status = skipped:<reason>`).

- a required column of the section (`required_columns`, e.g. an end_user's email) is empty:
  `skipped:no_<column>`;
- the record is outside the section's filter (the inclusion filter): `skipped:outside_filter`;
- creating it would leave a field empty that Salesforce requires (describe: createable, not nillable,
  not defaulted on create): `skipped:missing_<field>`;
- another platform record has the same email (case-insensitive) and was there first or is already in
  Salesforce: `skipped:duplicate_email`;
- the platform record is marked deleted: `skipped:deleted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.settings import FieldMapping, Section
from crm_sync.settings.filters import included

EMAIL_COLUMN = "email"


@dataclass(frozen=True)
class Skip:
    """Why a record is not sent: the status reason and a sentence for people."""

    reason: str
    message: str

    @property
    def status(self) -> str:
        return f"skipped:{self.reason}"

    def error(self) -> dict[str, Any]:
        return {"statusCode": "NOT_SENT", "message": self.message, "fields": []}


def required_on_create(describe: dict | None) -> list[str]:
    """Fields Salesforce needs on create: createable, not nillable, no default (booleans always have one)."""
    if not describe:
        return []
    return [f["name"] for f in describe.get("fields", [])
            if f.get("createable") and not f.get("nillable", True) and not f.get("defaultedOnCreate")
            and f.get("type") != "boolean" and f.get("defaultValue") is None]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_record(section: Section, row: dict[str, Any], *, creating: bool,
                 required_fields: Sequence[str] = (),
                 send_fields_by_name: Mapping[str, FieldMapping] | None = None) -> Skip | None:
    """The first rule the record breaks, or None when it may be sent (`send_fields_by_name`: the
    section's send fields by lower-case Salesforce name, when the caller has them already)."""
    if row.get("deleted"):
        return Skip("deleted", "the platform record is marked deleted")
    for column in section.required_columns:
        if _empty(row.get(column)):
            return Skip(f"no_{column}", f"{column} is empty; the section requires it")
    if not included(section, row):
        return Skip("outside_filter", f"the record does not meet the section's filter: {section.filter}")
    if creating:
        by_field = send_fields_by_name if send_fields_by_name is not None else {
            f.salesforce.lower(): f for f in section.send_fields()}
        for name in required_fields:
            mapping = by_field.get(name.lower())
            if mapping is None or _empty(row.get(mapping.column)):
                return Skip(f"missing_{name.lower()}", f"Salesforce requires {name} to create a {section.object}")
    return None


def duplicate_emails(store: PlatformStore, section: Section, rows: Sequence[dict[str, Any]]) -> set[int]:
    """Ids of rows to be created whose email (case-insensitive) another live platform record had first.

    "First" is the record already in Salesforce, else the one with the lowest platform id.
    """
    if section.field_for_column(EMAIL_COLUMN) is None:
        return set()
    candidates = {r["id"]: r[EMAIL_COLUMN].strip().lower() for r in rows
                  if not r.get("salesforce_id") and not _empty(r.get(EMAIL_COLUMN))}
    if not candidates:
        return set()
    table = store.table(section)
    emails = sorted(set(candidates.values()))
    keeper: dict[str, tuple[int, int]] = {}  # email -> (rank, id): rank 0 = in Salesforce
    with store.engine.connect() as conn:
        for start in range(0, len(emails), 500):
            lowered = sa.func.lower(sa.func.trim(table.c[EMAIL_COLUMN]))
            query = sa.select(table.c.id, table.c.salesforce_id, lowered.label("email")).where(
                lowered.in_(emails[start:start + 500]), table.c.deleted.is_(sa.false()))
            for row in conn.execute(query):
                rank = (0 if row.salesforce_id else 1, row.id)
                if row.email not in keeper or rank < keeper[row.email]:
                    keeper[row.email] = rank
    return {record_id for record_id, email in candidates.items() if keeper.get(email, (1, record_id))[1] != record_id}
