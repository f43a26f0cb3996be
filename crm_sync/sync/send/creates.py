"""Finding what a create whose outcome is unknown made, before anything is created again.

A create written by a push that died before its acknowledgement (or whose answer was lost) is kept as a
pending create with the time it was written and the values it wrote (platform/claims.py). Objects with
an external Id field are created by upsert on the record's key, which is idempotent by itself. For the
others (Note, Task), `find_created` looks the record up: created by this integration user, with exactly
the values it wrote, and not yet linked to any platform row. (No time bound: Salesforce's clock is not
ours.) Filterable values go into the query; long text (not filterable in SOQL) is compared on the records
found. `match_created` does the same on
received records, so a receive links such a record to its platform row instead of inserting it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crm_sync.platform.claims import PendingCreate
from crm_sync.platform.values import same_value
from crm_sync.salesforce import soql
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import FieldType, Section

# Types compared in the query; the others (long text, dates as text) are compared on the records found.
FILTERABLE = (FieldType.STRING, FieldType.REFERENCE, FieldType.BOOLEAN, FieldType.INTEGER, FieldType.FLOAT)


def find_created(client: SalesforceClient, section: Section, pending: PendingCreate,
                 taken: Iterable[str] = ()) -> str | None:
    """The Id of the record this pending create made in Salesforce, or None when it made none."""
    by_field = {f.salesforce: f for f in section.send_fields()}
    conditions = []
    if client.user_id:
        conditions.append(f"CreatedById = {soql.quote(client.user_id)}")
    for name, value in pending.values.items():
        mapping = by_field.get(name)
        if mapping is None or mapping.type not in FILTERABLE:
            continue
        conditions.append(f"{soql.path(name)} = {soql.literal(value)}" if value is not None
                          else f"{soql.path(name)} = null")
    fields = ["Id", *[n for n in pending.values if n in by_field]]
    query = soql.select(section.object, fields, conditions)
    skip = set(taken)
    for record in client.query_records(query):
        if record["Id"] not in skip and _same_values(section, pending.values, record):
            return record["Id"]
    return None


def match_created(section: Section, pending: Iterable[PendingCreate],
                  received: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Received Salesforce records (by Salesforce field name) that pending creates made: Id -> record id."""
    waiting = list(pending)
    links: dict[str, int] = {}
    for record in received:
        for create in waiting:
            if create.key is not None:
                found = any(isinstance(v, str) and v.lower() == create.key.lower() for v in record.values())
            else:
                found = _same_values(section, create.values, record)
            if found:
                links[record["Id"]] = create.record_id
                waiting.remove(create)
                break
    return links


def _same_values(section: Section, written: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    by_field = {f.salesforce: f for f in section.send_fields()}
    for name, value in written.items():
        mapping = by_field.get(name)
        if mapping is None:
            continue
        if name not in record or not same_value(value, record[name], mapping.type):
            return False
    return True
