"""Writing model rows: applying received pages, marking deletes, and app writes with an origin.

How `apply_page` counts (every row of the de-duplicated page lands in exactly one count):
- imported:  no row has its salesforce_id yet, and the incoming row is not deleted; it is inserted.
- updated:   the incoming active modstamp is newer than the stored one (or none is stored), and at least
             one received value (or the deleted flag, e.g. an undelete) differs; the row is rewritten.
- deleted:   as updated, but the incoming row is deleted and the stored one was not.
- unchanged: every received value and the deleted flag equal the stored ones. The row is not
             rewritten (values, origin, updated_at stay); only its modstamps move forward when newer, so
             an older version can never win later.
- skipped:   the incoming version is not newer and differs (an older version); or it is newer but the
             section's conflict rule kept every platform value it differs in (its base still moves); or the
             incoming row is deleted and the platform never had it.
Which value each column of a newer version ends with is decided per field against the last-agreed base
(see _ApplySql); a platform change of another field is never overwritten, and a value overwritten by the
section's conflict rule is logged (`field_overwritten`) with both values, in the same transaction.
Columns that are not received (send-only, off, or absent from the page) are never written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform import claims, cursors, dialect, staging, sync_log, values
from crm_sync.platform.pages import MODSTAMP_COLUMNS
from crm_sync.platform.schema import ORIGINS, PlatformSchema, base_column
from crm_sync.platform.types import UTCDateTime, sql_type, utc_now
from crm_sync.settings import ConflictRule, Section

DELETE_CHUNK = 500
CONFLICT_EVENT = "field_overwritten"  # the sync log event of a value a conflict rule overwrote


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@dataclass(frozen=True)
class ApplyCounts:
    """What one apply did, per the rules in this module's docstring."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0

    def __add__(self, other: ApplyCounts) -> ApplyCounts:
        return ApplyCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def total(self) -> int:
        return self.imported + self.updated + self.unchanged + self.skipped + self.deleted


def apply_page(
    conn: Connection,
    schema: PlatformSchema,
    section: Section,
    page: pa.Table,
    *,
    modstamp_field: str,
    cursor: cursors.CursorUpdate | None = None,
    landed_path: str | None = None,
    links: Mapping[str, int] | None = None,
    staged: sa.Table | None = None,
) -> ApplyCounts:
    """Apply one normalized page (see pages.normalize_page) inside the caller's write transaction.

    Set-based: the page is bulk-loaded into a staging table (staging.py; `staged`: one the caller has
    already loaded with `staging_data(page)`, as SQLite's are, else a temporary one), each staged row is
    classified with one UPDATE .. FROM, then one UPDATE, one UPDATE (modstamps only) and one INSERT .. SELECT
    write the model table. The cursor and the landing manifest are updated in the same transaction.
    `links` (Salesforce Id -> platform id) first gives rows whose create's answer was lost the Id of the
    record it made, so the page updates them instead of inserting a second row.
    """
    cursors.check_modstamp_field(modstamp_field)
    target = schema.model(section.model)
    received = _received(section, page)
    dialect.lock(conn, f"crm_sync:apply:{section.model}")
    for salesforce_id, record_id in (links or {}).items():  # records our own lost creates made
        conn.execute(target.update().where(target.c.id == record_id, target.c.salesforce_id.is_(None))
                     .values(salesforce_id=salesforce_id))
        claims.forget_create(conn, schema, section.model, record_id)

    stage = staged
    if stage is None:
        if dialect.is_sqlite(conn):
            raise ValueError("on SQLite a page is staged in a file of its own: pass `staged` (see staging.py)")
        stage = staging.create_temporary(conn, staging_name(section), staging_columns(section, page, keyed=False))
        staging.copy_into(conn, stage, staging_data(section, page))
    _adopt_landed_writes(conn, schema, section, page)
    sql = _ApplySql(conn, section, target.name, stage, received, MODSTAMP_COLUMNS[modstamp_field])
    model = {"model": section.model}
    with dialect.joins_by_index_lookups(conn):
        conn.execute(sa.text(sql.classify_existing()), model)
    by_action = dict(conn.execute(sa.text(sql.count_actions())).all())
    # A statement whose action no staged row has would change nothing: it is not run (on a large model
    # table a join that finds nothing still costs a scan, e.g. the rewrite of a page of new records).
    has = {action for action, count in by_action.items() if count}
    now = sa.bindparam("now", utc_now(), type_=UTCDateTime())
    with dialect.joins_by_index_lookups(conn):
        overwrites = [(column, row) for column in sql.merged if has & {"update", "kept"}
                      for row in conn.execute(sa.text(sql.conflicts(column)), model)]
        if has & {"update", "delete"}:
            conn.execute(sa.text(sql.rewrite()).bindparams(now), model)
        if has & {"touch", "kept"}:
            conn.execute(sa.text(sql.touch()), model)
    inserted = conn.execute(sa.text(sql.insert()).bindparams(now)).rowcount if "insert" in has else 0
    for column, (record_id, salesforce_id, platform_value, salesforce_value, winner) in overwrites:
        sync_log.log_event(conn, schema, CONFLICT_EVENT, section=section.object, details={
            "record_id": record_id, "salesforce_id": salesforce_id, "column": column,
            "field": section.field_for_column(column).salesforce, "platform_value": _jsonable(platform_value),
            "salesforce_value": _jsonable(salesforce_value), "winner": winner,
            "overwritten": "platform" if winner == "salesforce" else "salesforce",
            "reason": f"receive: both sides changed it; rule {section.conflict}"})

    if cursor is not None:
        cursors.advance(conn, schema, section.object, modstamp_field, cursor)
    if landed_path is not None:
        manifest = schema.landing_manifest
        conn.execute(manifest.update().where(manifest.c.path == str(landed_path))
                     .values(applied=True, applied_at=utc_now()))
    raced = by_action.get("insert", 0) - inserted  # a row inserted by another writer meanwhile
    return ApplyCounts(
        imported=inserted,
        updated=by_action.get("update", 0),
        unchanged=by_action.get("touch", 0) + by_action.get("unchanged", 0),
        skipped=by_action.get("skipped", 0) + by_action.get("kept", 0) + raced,
        deleted=by_action.get("delete", 0),
    )


def staging_name(section: Section) -> str:
    return f"crm_stage_{section.model}"


def staging_columns(section: Section, page: pa.Table, *, keyed: bool) -> list[sa.Column]:
    """The staging table of a page: its record's keys, modstamps, deleted flag and received columns, and the
    `action` the apply classifies each row with. `keyed`: salesforce_id is the primary key (SQLite: its
    planner and the page's Id span read it). Postgres looks staged rows up in the model table only, one
    pass over the staging table each, so an index there would only cost COPY its upkeep (12% of the
    server's CPU for an apply); a page holds each record once (pages.normalize_page) either way."""
    return [
        sa.Column("salesforce_id", sa.String(18), primary_key=keyed, nullable=False),
        sa.Column("sf_last_modified", UTCDateTime()),
        sa.Column("sf_system_modstamp", UTCDateTime()),
        sa.Column("deleted", sa.Boolean, nullable=False),
        *(sa.Column(c, sql_type(section.field_for_column(c).type)) for c in _received(section, page)),
        sa.Column("action", sa.Text),
    ]


def staging_data(section: Section, page: pa.Table) -> pa.Table:
    """The columns of a normalized page that go to its staging table."""
    modstamps = [c for c in MODSTAMP_COLUMNS.values() if c in page.column_names]
    return page.select(["salesforce_id", *modstamps, "deleted", *_received(section, page)])


def _received(section: Section, page: pa.Table) -> list[str]:
    return [f.column for f in section.receive_fields() if f.column in page.column_names]


def _adopt_landed_writes(conn: Connection, schema: PlatformSchema, section: Section, page: pa.Table) -> None:
    """Move to the written value the base of every field an unacknowledged push wrote that the page shows
    Salesforce holding.

    Salesforce holds what that push wrote, so the write landed (or someone set the same value): it is the
    value both sides last agreed on, as the next push would conclude (sync/send/conflicts.py). Without this
    the echo of a push that died before its acknowledgement reads as a Salesforce change (incoming <> base)
    and overwrites an edit the platform made since, such as setting the field back to the old base.
    """
    pending = claims.pending_writes_by_salesforce_id(conn, schema, section.model)
    if not pending:
        return
    positions = {sid: n for n, sid in enumerate(page.column("salesforce_id").to_pylist()) if sid in pending}
    if not positions:
        return
    merged = set(section.base_columns())
    by_field = {m.salesforce.lower(): m for m in section.receive_fields()
                if m.column in merged and m.column in page.column_names}
    deleted = page.column("deleted").to_pylist()
    target = schema.model(section.model)
    for salesforce_id, n in positions.items():
        record_id, written = pending[salesforce_id]
        if deleted[n]:
            continue
        landed = {}
        for field, value in written.items():
            mapping = by_field.get(field.lower())
            if mapping is None:
                continue
            incoming = page.column(mapping.column)[n].as_py()
            if values.same_value(incoming, value, mapping.type):
                landed[base_column(mapping.column)] = incoming
        if landed:
            conn.execute(target.update().where(target.c.id == record_id).values(landed))


class _ApplySql:
    """The SQL statements of one apply, with every identifier quoted for the dialect.

    Per received column c of a record that is newer than the stored version:
    - a column without a base (receive-only) takes Salesforce's value;
    - a column with a base b: Salesforce changed it when incoming <> b, the platform when current <> b.
      Only Salesforce changed it: take incoming. Only the platform: keep current (it is sent). Both, to the
      same value: agreed. Both, differently: the section's conflict rule (newest_wins compares Salesforce's
      modstamp with the platform's last change of that field). The base becomes incoming whenever Salesforce changed it,
      so a platform value that won stays "changed" and is sent, and one that lost equals its base again.
    `updated_at` (the platform's own last write) stays put while the platform still has unsent columns.
    """

    def __init__(self, conn: Connection, section: Section, target: str, stage: sa.Table, received: list[str],
                 active: str) -> None:
        self.dialect_name = conn.dialect.name
        self.q = lambda identifier: dialect.quote(conn, identifier)
        self.t = self.q(target)
        self.s = f"{self.q(stage.schema)}.{self.q(stage.name)}" if stage.schema else self.q(stage.name)
        self.received = received
        self.merged = [c for c in received if c in set(section.base_columns())]
        self.active = self.q(active)
        self.conflict = ConflictRule(section.conflict)
        # SQLite, updating the model table from the staged rows, would scan the model table and look each
        # row up in the staging table, once per page (quadratic over a full fetch). Implied by the join on
        # salesforce_id, the page's Id span said outright makes it read the model table through its
        # salesforce_id index; the bounds come from the staged rows in SQL, so they order as the column's
        # collation does. The classification, which updates the staging table, goes without it: SQLite
        # already looks each staged row up in that index there, and the span would make it walk the index
        # over the page's span instead. Postgres joins by nested loop instead (dialect.joins_by_index_lookups):
        # a span would read every model row in it, and a page in modstamp order spans nearly every Id.
        sqlite = self.dialect_name == "sqlite"
        self.t_in_page = (f"t.salesforce_id BETWEEN (SELECT MIN(salesforce_id) FROM {self.s}) "
                          f"AND (SELECT MAX(salesforce_id) FROM {self.s})") if sqlite else "1 = 1"

    def _differs(self, left: str, right: str) -> str:
        return dialect.differs(left, right, self.dialect_name)

    def _same(self, left: str, right: str) -> str:
        return dialect.same(left, right, self.dialect_name)

    def _col(self, alias: str, column: str) -> str:
        return f"{alias}.{self.q(column)}"

    def _base(self, column: str) -> str:
        return f"t.{self.q(base_column(column))}"

    def salesforce_wins(self, column: str) -> str:
        """True when both sides changed `column` and the section's rule gives it to Salesforce.

        `newest_wins` compares Salesforce's modstamp with the platform's last change of that field: the
        newest outbox row naming it (a user edit), else the last `system` write, else the row's updated_at.
        """
        if self.conflict is ConflictRule.SALESFORCE_WINS:
            return "1 = 1"
        if self.conflict is ConflictRule.PLATFORM_WINS:
            return "1 = 0"
        named = f"'%\"{column}\"%'"  # changed_columns is a JSON list of snake_case column names
        latest_edit = ("COALESCE((SELECT MAX(o.created_at) FROM outbox o WHERE o.model = :model "
                       f"AND o.record_id = t.id AND o.changed_columns LIKE {named}), t.system_changed_at, t.updated_at)")
        return f"s.{self.active} > {latest_edit}"

    def platform_changed(self, column: str) -> str:
        return self._differs(self._col("t", column), self._base(column))

    def salesforce_changed(self, column: str) -> str:
        return self._differs(self._col("s", column), self._base(column))

    def conflicting(self, column: str) -> str:
        """Both sides changed `column`, to different values."""
        return (f"({self.platform_changed(column)}) AND ({self.salesforce_changed(column)}) "
                f"AND ({self._differs(self._col('s', column), self._col('t', column))})")

    def merged_value(self, column: str) -> str:
        s, t = self._col("s", column), self._col("t", column)
        if column not in self.merged:
            return s
        return (f"CASE WHEN NOT ({self.platform_changed(column)}) THEN {s} "
                f"WHEN NOT ({self.salesforce_changed(column)}) THEN {t} "
                f"WHEN {self.salesforce_wins(column)} THEN {s} ELSE {t} END")

    def merged_base(self, column: str) -> str:
        return (f"CASE WHEN {self.salesforce_changed(column)} OR NOT ({self.platform_changed(column)}) "
                f"THEN {self._col('s', column)} ELSE {self._base(column)} END")

    def _any(self, conditions: list[str]) -> str:
        return " OR ".join(f"({c})" for c in conditions) or "1 = 0"

    def classify_existing(self) -> str:
        a = self.active
        equal = " AND ".join([*(self._same(self._col("s", c), self._col("t", c)) for c in self.received),
                              "s.deleted = t.deleted"])
        moves = self._any([self._differs(self.merged_value(c), self._col("t", c)) for c in self.received])
        return (
            f"UPDATE {self.s} AS s SET action = CASE "
            f"WHEN t.{a} IS NOT NULL AND s.{a} <= t.{a} THEN CASE WHEN {equal} THEN 'unchanged' ELSE 'skipped' END "
            "WHEN s.deleted AND NOT t.deleted THEN 'delete' "
            f"WHEN s.deleted <> t.deleted OR {moves} THEN 'update' "
            f"WHEN {self._any([self.conflicting(c) for c in self.merged])} THEN 'kept' "
            "ELSE 'touch' END "
            f"FROM {self.t} AS t WHERE t.salesforce_id = s.salesforce_id"
        )

    def new_action(self) -> str:
        """The action of a staged row no model row matched (classify_existing left it NULL): insert it, or
        skip it when it is deleted (the platform never had it). Computed where needed, never written back
        to the staging table (on Postgres a rewrite of every staged row)."""
        return "CASE WHEN deleted THEN 'skipped' ELSE 'insert' END"

    def count_actions(self) -> str:
        return f"SELECT COALESCE(action, {self.new_action()}), COUNT(*) FROM {self.s} GROUP BY 1"

    def conflicts(self, column: str) -> str:
        """The conflicting values of one column among the rows to update, and who wins each."""
        return (f"SELECT t.id, s.salesforce_id, {self._col('t', column)}, {self._col('s', column)}, "
                f"CASE WHEN {self.salesforce_wins(column)} THEN 'salesforce' ELSE 'platform' END "
                f"FROM {self.s} AS s JOIN {self.t} AS t ON t.salesforce_id = s.salesforce_id "
                f"WHERE s.action IN ('update', 'kept') AND {self.t_in_page} AND {self.conflicting(column)}")

    def _modstamps(self) -> list[str]:
        return [f"{c} = COALESCE(s.{c}, t.{c})" for c in ("sf_last_modified", "sf_system_modstamp")]

    def _bases(self) -> list[str]:
        return [f"{self.q(base_column(c))} = {self.merged_base(c)}" for c in self.merged]

    def rewrite(self) -> str:
        pending = self._any([self._differs(self.merged_value(c), self.merged_base(c)) for c in self.merged])
        sets = [f"{self.q(c)} = {self.merged_value(c)}" for c in self.received] + self._bases() + self._modstamps() + [
            "origin = 'salesforce'", f"updated_at = CASE WHEN {pending} THEN t.updated_at ELSE :now END",
            "deleted = s.deleted", "out_of_scope_at = NULL",
            f"deleted_at = CASE WHEN s.deleted THEN COALESCE(t.deleted_at, s.{self.active}) ELSE NULL END",
        ]
        return (f"UPDATE {self.t} AS t SET {', '.join(sets)} FROM {self.s} AS s "
                f"WHERE t.salesforce_id = s.salesforce_id AND s.action IN ('update', 'delete') AND {self.t_in_page}")

    def touch(self) -> str:
        sets = [*self._bases(), *self._modstamps(), "out_of_scope_at = NULL"]
        return (f"UPDATE {self.t} AS t SET {', '.join(sets)} FROM {self.s} AS s "
                f"WHERE t.salesforce_id = s.salesforce_id AND s.action IN ('touch', 'kept') AND {self.t_in_page}")

    def insert(self) -> str:
        columns = ["salesforce_id", *self.received, "sf_last_modified", "sf_system_modstamp", "deleted"]
        listing = ", ".join(self.q(c) for c in columns)
        bases = "".join(f", {self.q(base_column(c))}" for c in self.merged)
        base_values = "".join(f", {self.q(c)}" for c in self.merged)
        return (f"INSERT INTO {self.t} ({listing}{bases}, origin, updated_at, sync_status) "
                f"SELECT {listing}{base_values}, 'salesforce', :now, 'ok' FROM {self.s} WHERE action IS NULL AND NOT deleted "
                "ON CONFLICT (salesforce_id) DO NOTHING")


def mark_deleted(conn: Connection, schema: PlatformSchema, section: Section, salesforce_ids: Iterable[str],
                 deleted_at: datetime) -> int:
    """Mark the rows of these Salesforce Ids deleted (rows are kept); return how many were not already.

    The modstamps move up to `deleted_at`, so a version older than the delete cannot revive the row.
    """
    if deleted_at.tzinfo is None:
        raise ValueError("deleted_at must be timezone-aware")
    table = schema.model(section.model)
    ids = sorted(set(salesforce_ids))
    marked = 0
    for start in range(0, len(ids), DELETE_CHUNK):
        chunk = ids[start:start + DELETE_CHUNK]
        moved = {c: sa.case((sa.or_(table.c[c].is_(None), table.c[c] < deleted_at), deleted_at),
                            else_=table.c[c]) for c in ("sf_last_modified", "sf_system_modstamp")}
        result = conn.execute(
            table.update()
            .where(table.c.salesforce_id.in_(chunk), table.c.deleted.is_(sa.false()))
            .values(deleted=True, deleted_at=deleted_at, origin="salesforce", updated_at=utc_now(), **moved))
        marked += result.rowcount
    return marked


def mark_out_of_scope(conn: Connection, schema: PlatformSchema, section: Section, salesforce_ids: Iterable[str],
                      at: datetime) -> int:
    """Mark live rows whose Salesforce record left the section's filter (kept, with the time it was seen
    leaving); a later receive of the record in scope clears the mark. Returns how many were newly marked."""
    table = schema.model(section.model)
    ids = sorted(set(salesforce_ids))
    marked = 0
    for start in range(0, len(ids), DELETE_CHUNK):
        marked += conn.execute(table.update().where(
            table.c.salesforce_id.in_(ids[start:start + DELETE_CHUNK]), table.c.out_of_scope_at.is_(None),
            table.c.deleted.is_(sa.false())).values(out_of_scope_at=at)).rowcount
    return marked


WRITABLE_EXTRA = ("salesforce_id", "deleted", "deleted_at")


def write_record(conn: Connection, schema: PlatformSchema, section: Section, values: Mapping[str, Any], *,
                 origin: str, record_id: int | None = None) -> int:
    """Insert (record_id None) or update one row with an origin; return its platform id.

    This is how an app writes: the origin decides change capture ('user' writes enter the outbox,
    'system' writes wait for the nightly push, 'salesforce' writes never go back). `values` are keyed
    by mapped column, plus optionally salesforce_id, deleted and deleted_at.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(ORIGINS)}, not {origin!r}")
    table = schema.model(section.model)
    allowed = set(section.columns) | set(WRITABLE_EXTRA)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"model {section.model} has no writable column(s) {', '.join(unknown)}")
    row = dict(values)
    if row.get("deleted") and "deleted_at" not in row:
        row["deleted_at"] = utc_now()
    row.update(origin=origin, updated_at=utc_now())
    if origin == "system":
        row["system_changed_at"] = row["updated_at"]
    if record_id is None:
        return conn.execute(table.insert().values(**row).returning(table.c.id)).scalar_one()
    result = conn.execute(table.update().where(table.c.id == record_id).values(**row))
    if result.rowcount == 0:
        raise KeyError(f"model {section.model} has no record with id {record_id}")
    return record_id


def get_record(conn: Connection, schema: PlatformSchema, model: str, *, record_id: int | None = None,
               salesforce_id: str | None = None) -> dict[str, Any] | None:
    """One row as a dict, by platform id or Salesforce Id; None when there is none."""
    table = schema.model(model)
    if (record_id is None) == (salesforce_id is None):
        raise ValueError("give exactly one of record_id and salesforce_id")
    condition = table.c.id == record_id if record_id is not None else table.c.salesforce_id == salesforce_id
    row = conn.execute(sa.select(table).where(condition)).first()
    return dict(row._mapping) if row else None


def count_records(conn: Connection, schema: PlatformSchema, model: str, *, include_deleted: bool = True) -> int:
    """How many rows a model table holds (optionally without those marked deleted)."""
    table = schema.model(model)
    query = sa.select(sa.func.count()).select_from(table)
    if not include_deleted:
        query = query.where(table.c.deleted.is_(sa.false()))
    return conn.execute(query).scalar_one()


def count_in_modstamp_range(conn: Connection, schema: PlatformSchema, model: str, column: str, start: datetime,
                            end: datetime, *, include_deleted: bool = True) -> int:
    """Rows of a model whose `column` modstamp lies in [start, end), optionally without deleted ones."""
    table = schema.model(model)
    modstamp = table.c[column]
    query = sa.select(sa.func.count()).select_from(table).where(modstamp >= start, modstamp < end)
    if not include_deleted:
        query = query.where(sa.not_(table.c.deleted))
    return conn.execute(query).scalar_one()
