"""Creating and migrating the platform schema at open: idempotent, safe to run from several processes.

`ensure_schema` creates missing tables, adds missing columns (a newly mapped field becomes a new
nullable column; nothing is ever dropped), records the store's schema version, and recreates the
change-capture triggers from the current send fields. It runs in one locked transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_sync.platform import dialect
from crm_sync.platform.engine import write_transaction
from crm_sync.platform.schema import SCHEMA_VERSION, PlatformSchema
from crm_sync.settings import Section
from crm_sync.settings.schema import BASE_SUFFIX

MIGRATIONS = {1: "internal tables: schema_version, sync_cursor, partition_cursor, sync_log, "
                 "landing_manifest, outbox",
              2: "per-field sync state: <column>__base columns, out_of_scope_at, push_claim",
              3: "push_claim: an update's values and the modstamp it saw, kept until acknowledged; "
                 "system_changed_at on model tables"}


class SchemaVersionError(RuntimeError):
    """The database was written by a newer crm_sync than this one."""


@dataclass
class SchemaChanges:
    """What one ensure_schema call did."""

    created_tables: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)  # "table.column"
    applied_versions: list[int] = field(default_factory=list)
    triggers_installed: list[str] = field(default_factory=list)  # models whose capture triggers were (re)made


def ensure_schema(engine: Engine, schema: PlatformSchema, sections: Sequence[Section]) -> SchemaChanges:
    """Bring the database up to `schema` (tables, columns, version, triggers); return what changed."""
    changes = SchemaChanges()
    with write_transaction(engine) as conn:
        dialect.lock(conn, "crm_sync:schema")
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        _check_version(conn, schema, existing)
        for table in schema.metadata.sorted_tables:
            if table.name not in existing:
                table.create(conn)
                changes.created_tables.append(table.name)
            else:
                added = _add_missing_columns(conn, inspector, table)
                _initial_bases(conn, table, [name.split(".", 1)[1] for name in added])
                changes.added_columns.extend(added)
        recorded = {v for (v,) in conn.execute(sa.select(schema.schema_version.c.version))}
        for version, description in sorted(MIGRATIONS.items()):
            if version not in recorded:
                conn.execute(schema.schema_version.insert().values(version=version, description=description))
                changes.applied_versions.append(version)
        changes.triggers_installed = _install_triggers(conn, schema, sections)
    return changes


def _check_version(conn: Connection, schema: PlatformSchema, existing: set[str]) -> None:
    if schema.schema_version.name not in existing:
        return
    newest = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    if newest is not None and newest > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the platform database is at schema version {newest}, newer than this crm_sync ({SCHEMA_VERSION})")


def _add_missing_columns(conn: Connection, inspector: sa.Inspector, table: sa.Table) -> list[str]:
    present = {c["name"] for c in inspector.get_columns(table.name)}
    added = []
    for column in table.columns:
        if column.name in present:
            continue
        if not column.nullable and column.server_default is None:
            raise RuntimeError(f"cannot add the NOT NULL column {table.name}.{column.name} without a default")
        ddl = f"{dialect.quote(conn, column.name)} {column.type.compile(dialect=conn.dialect)}"
        if column.server_default is not None:
            default = column.server_default.arg
            default_sql = default.compile(dialect=conn.dialect) if hasattr(default, "compile") else f"'{default}'"
            ddl += f" DEFAULT {default_sql}"
        if not column.nullable:
            ddl += " NOT NULL"
        conn.exec_driver_sql(f"ALTER TABLE {dialect.quote(conn, table.name)} ADD COLUMN {ddl}")
        added.append(f"{table.name}.{column.name}")
    return added


def _initial_bases(conn: Connection, table: sa.Table, added: list[str]) -> None:
    """A base column added to a table with rows: records already in Salesforce take their current value as
    the agreed one, except a column with a change still waiting in the outbox (left NULL: it is sent)."""
    q = lambda name: dialect.quote(conn, name)  # noqa: E731
    for base in (c for c in added if c.endswith(BASE_SUFFIX)):
        column = base[: -len(BASE_SUFFIX)]
        waiting = (f"SELECT 1 FROM outbox o WHERE o.model = :model AND o.record_id = {q(table.name)}.id "
                   f"AND o.changed_columns LIKE :pattern")
        conn.execute(sa.text(f"UPDATE {q(table.name)} SET {q(base)} = {q(column)} "
                             f"WHERE salesforce_id IS NOT NULL AND NOT EXISTS ({waiting})"),
                     {"model": table.name, "pattern": f'%"{column}"%'})


def _install_triggers(conn: Connection, schema: PlatformSchema, sections: Sequence[Section]) -> list[str]:
    capturing = {s.model: [f.column for f in s.send_fields()] for s in sections if s.sends}
    changed = [model for model in schema.models
               if dialect.install_outbox_triggers(conn, model, capturing.get(model, []))]
    stale = {table for table, _signature in dialect.outbox_triggers(conn).values() if table not in capturing}
    dialect.drop_outbox_triggers(conn, stale)
    return changed
