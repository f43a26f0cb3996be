"""Fields removed from the org (test tooling): which may be hidden, the catalog without them, their table.

A hidden field is gone from every API view (describe, SOQL, writes, Bulk) because the org swaps in a
Catalog built without it; its SQLite column and data stay, so restoring it brings the values back.
The hidden set lives in the org's SQLite file (table `_sandbox_hidden_fields`), so a restart keeps it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Collection

from crm_sync.sandbox.catalog import Catalog
from crm_sync.sandbox.errors import SalesforceError

HIDDEN_FIELDS_TABLE = "_sandbox_hidden_fields"
SYSTEM_FIELDS = frozenset({
    "Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
    "OwnerId",
})

FieldName = tuple[str, str]  # (object, field), as the catalog spells them


def hideable_field(catalog: Catalog, obj: str, field: str) -> FieldName:
    """The catalog's (object, field) names of a field that may be hidden.

    Unknown object or field: NOT_FOUND (404); a system field: ValueError (the admin surface's 400).
    """
    sobject = catalog.get(obj)
    if sobject is None:
        raise SalesforceError(404, "NOT_FOUND", f"No object {obj!r} in the sandbox org")
    found = sobject.field(field)
    if found is None:
        raise SalesforceError(404, "NOT_FOUND", f"No field {field!r} on {sobject.name}")
    if found.name in SYSTEM_FIELDS:
        raise ValueError(f"{sobject.name}.{found.name} is a system field and cannot be removed; system fields are "
                         f"{', '.join(sorted(SYSTEM_FIELDS))}")
    return sobject.name, found.name


def catalog_without(catalog: Catalog, hidden: Collection[FieldName]) -> Catalog:
    """A new Catalog: `catalog` with the hidden fields (and their relationships) left out."""
    if not hidden:
        return catalog
    objects = []
    for sobject in catalog.objects:
        gone = {field for obj, field in hidden if obj == sobject.name}
        if gone:
            sobject = dataclasses.replace(
                sobject,
                fields=tuple(f for f in sobject.fields if f.name not in gone),
                name_field=None if sobject.name_field in gone else sobject.name_field,
            )
        objects.append(sobject)
    return Catalog(objects)


def create_table(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {HIDDEN_FIELDS_TABLE} "
                 "(object TEXT NOT NULL, field TEXT NOT NULL, PRIMARY KEY (object, field))")


def load(conn: sqlite3.Connection, catalog: Catalog) -> set[FieldName]:
    """The saved hidden fields that the catalog still has (and that may be hidden)."""
    hidden = set()
    for obj, field in conn.execute(f"SELECT object, field FROM {HIDDEN_FIELDS_TABLE}"):
        sobject = catalog.get(obj)
        found = sobject.field(field) if sobject else None
        if sobject and found and found.name not in SYSTEM_FIELDS:
            hidden.add((sobject.name, found.name))
    return hidden


def save(conn: sqlite3.Connection, hidden: Collection[FieldName]) -> None:
    """Replace the saved hidden set (inside the caller's write transaction)."""
    conn.execute(f"DELETE FROM {HIDDEN_FIELDS_TABLE}")
    conn.executemany(f"INSERT INTO {HIDDEN_FIELDS_TABLE} (object, field) VALUES (?, ?)", sorted(hidden))
