"""A tiny org for the SOQL tests: the catalog's tables in in-memory SQLite, in the store's layout.

Independent of the real store: tables per object, one column per field, the hidden columns
`_visible_after` and `_deleted_at`, values in storage form (datetimes as timefmt text, booleans 0/1).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

from crm_sync.sandbox.catalog import CATALOG, Catalog
from crm_sync.sandbox.ids import IdFactory
from crm_sync.sandbox.soql import CompiledQuery, compile_soql
from crm_sync.sandbox.timefmt import format_datetime

NOW = datetime(2024, 5, 15, 12, 30, 0, tzinfo=UTC)


def storage_value(value: object) -> object:
    """A Python value in the store's storage form."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class TinyOrg:
    """An in-memory org: insert rows directly, run SOQL through the engine."""

    def __init__(self, catalog: Catalog = CATALOG) -> None:
        self.catalog = catalog
        self.db = sqlite3.connect(":memory:")
        self.ids = IdFactory()
        for sobject in catalog.objects:
            columns = ", ".join(f'"{f.name}" {f.sqlite_type}' for f in sobject.fields)
            self.db.execute(
                f'CREATE TABLE "{sobject.name}" ({columns}, "_visible_after" TEXT, "_deleted_at" TEXT)'
            )

    def insert(self, object_name: str, **values: object) -> str:
        """Insert one record (Id, IsDeleted and system dates filled in unless given); returns its Id."""
        sobject = self.catalog.get(object_name)
        assert sobject is not None, object_name
        row = {
            "Id": self.ids.new_id(sobject.key_prefix),
            "IsDeleted": False,
            "CreatedDate": NOW,
            "LastModifiedDate": NOW,
            "SystemModstamp": NOW,
        }
        row.update(values)
        names = list(row)
        placeholders = ", ".join("?" * len(names))
        quoted = ", ".join(f'"{name}"' for name in names)
        self.db.execute(
            f'INSERT INTO "{sobject.name}" ({quoted}) VALUES ({placeholders})',
            [storage_value(row[name]) for name in names],
        )
        return str(row["Id"])

    def compile(self, soql: str, *, include_deleted: bool = False, now: datetime = NOW) -> CompiledQuery:
        return compile_soql(soql, self.catalog, include_deleted=include_deleted, now=now)

    def rows(self, soql: str, **kw: object) -> tuple[CompiledQuery, list[tuple]]:
        compiled = self.compile(soql, **kw)
        return compiled, self.db.execute(compiled.sql, compiled.params).fetchall()

    def records(self, soql: str, **kw: object) -> list[dict]:
        compiled, rows = self.rows(soql, **kw)
        assert not compiled.is_count
        return [compiled.record(row) for row in rows]

    def count(self, soql: str, **kw: object) -> int:
        compiled, rows = self.rows(soql, **kw)
        assert compiled.is_count
        return rows[0][0]

    def ids_of(self, soql: str, **kw: object) -> list[str]:
        return [record["Id"] for record in self.records(soql, **kw)]
