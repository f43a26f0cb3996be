"""`PlatformStore`: the one object the rest of crm_sync uses to read and write the platform database.

It opens the database by URL (SQLite or Postgres), builds the tables from the sync sections, migrates
them at open, and offers the receive side (apply_page, mark_deleted, cursors, landing), the send side
(write_record, outbox, sync status) and the sync log. Each method runs in its own transaction.
Sections may be named by Salesforce object (`"Account"`), by model (`"company"`) or given as `Section`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from crm_sync.platform import cursors, landing, outbox, record_errors, records, sync_log
from crm_sync.platform.engine import create_platform_engine, platform_url, write_transaction
from crm_sync.platform.migrate import SchemaChanges, ensure_schema
from crm_sync.platform.pages import MODSTAMP_COLUMNS, Rows, normalize_page
from crm_sync.platform.schema import PlatformSchema
from crm_sync.settings import Section, Settings, load_settings


class PlatformStore:
    """The platform database of one set of sync sections."""

    def __init__(self, url: str | None = None, settings: Settings | None = None, *,
                 landing_root: str | Path | None = None, migrate: bool = True) -> None:
        self.url = platform_url(url)
        self.settings = settings if settings is not None else load_settings()
        self.engine = create_platform_engine(self.url)
        self.landing_root = Path(landing_root) if landing_root is not None else landing.default_landing_root()
        self.schema = PlatformSchema(self.engine.dialect.name)
        self.schema.add_models(self.settings.sections)
        self.last_migration: SchemaChanges | None = None
        if migrate:
            self.ensure_schema()

    # -- lifecycle ---------------------------------------------------------------------------------
    def ensure_schema(self) -> SchemaChanges:
        """Create missing tables and columns, record the schema version, (re)install the triggers."""
        self.last_migration = ensure_schema(self.engine, self.schema, self.settings.sections)
        return self.last_migration

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> PlatformStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def section(self, name: Section | str) -> Section:
        """The section for a Section, an object name or a model name."""
        return name if isinstance(name, Section) else self.settings.section(name)

    def table(self, model: Section | str) -> sa.Table:
        """The SQLAlchemy table of a model."""
        return self.schema.model(self.section(model).model)

    # -- receive -----------------------------------------------------------------------------------
    def apply_page(self, section: Section | str, rows: Rows, *, modstamp_field: str,
                   cursor: cursors.CursorUpdate | None = None,
                   landed_path: str | Path | None = None) -> records.ApplyCounts:
        """Apply one received page in ONE transaction (rows, cursor, landing manifest) and count it.

        `rows`: an Arrow table or dicts keyed by platform column plus salesforce_id, sf_last_modified,
        sf_system_modstamp and optionally deleted (see pages.py). `modstamp_field` (LastModifiedDate or
        SystemModstamp) picks the modstamp that decides "newer". Counting rules: records.py.
        """
        resolved = self.section(section)
        if not resolved.direction.receives:
            raise ValueError(f"section {resolved.object} is {resolved.direction.value!r}: it does not receive")
        page = normalize_page(resolved, rows, modstamp_field)
        with write_transaction(self.engine) as conn:
            return records.apply_page(conn, self.schema, resolved, page, modstamp_field=modstamp_field,
                                      cursor=cursor, landed_path=None if landed_path is None else str(landed_path))

    def mark_deleted(self, section: Section | str, salesforce_ids: Iterable[str], deleted_at: datetime) -> int:
        """Mark rows deleted (never removed); return how many were newly marked."""
        with write_transaction(self.engine) as conn:
            return records.mark_deleted(conn, self.schema, self.section(section), salesforce_ids, deleted_at)

    def get_cursor(self, section: Section | str, modstamp_field: str) -> datetime | None:
        """Upper bound of the last applied window of a section (None before the first)."""
        with self.engine.connect() as conn:
            return cursors.get_cursor(conn, self.schema, self.section(section).object, modstamp_field)

    def get_partition_window(self, section: Section | str, modstamp_field: str,
                             day: date) -> cursors.PartitionWindow | None:
        """Last applied window of one partition day."""
        with self.engine.connect() as conn:
            return cursors.get_partition_window(conn, self.schema, self.section(section).object, modstamp_field, day)

    def land_page(self, section: Section | str, day: date, table: pa.Table, *, page_no: int,
                  run_id: str | None = None, window_start: datetime | None = None,
                  window_end: datetime | None = None, modstamp_field: str | None = None,
                  root: str | Path | None = None) -> Path:
        """Write a fetched page to Parquet under root/Object/YYYY-MM-DD/ and list it in the manifest."""
        with write_transaction(self.engine) as conn:
            return landing.land_page(conn, self.schema, Path(root) if root else self.landing_root,
                                     self.section(section).object, day, table, page_no=page_no, run_id=run_id,
                                     window_start=window_start, window_end=window_end,
                                     modstamp_field=modstamp_field)

    def pages_to_replay(self, section: Section | str | None = None, *, day: date | None = None,
                        run_id: str | None = None) -> list[landing.LandedPage]:
        """Landed pages whose apply has not committed yet."""
        with self.engine.connect() as conn:
            name = None if section is None else self.section(section).object
            return landing.pages_to_replay(conn, self.schema, name, day=day, run_id=run_id)

    read_landed_page = staticmethod(landing.read_landed_page)

    # -- records -----------------------------------------------------------------------------------
    def write_record(self, model: Section | str, values: Mapping[str, Any], *, origin: str,
                     record_id: int | None = None) -> int:
        """Insert or update one row with an origin (user | system | salesforce); return its id.
        'user' writes are captured into the outbox by the table's triggers."""
        with write_transaction(self.engine) as conn:
            return records.write_record(conn, self.schema, self.section(model), values, origin=origin,
                                        record_id=record_id)

    def get_record(self, model: Section | str, *, record_id: int | None = None,
                   salesforce_id: str | None = None) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return records.get_record(conn, self.schema, self.section(model).model, record_id=record_id,
                                      salesforce_id=salesforce_id)

    def count_records(self, model: Section | str, *, include_deleted: bool = True) -> int:
        with self.engine.connect() as conn:
            return records.count_records(conn, self.schema, self.section(model).model,
                                         include_deleted=include_deleted)

    def count_in_modstamp_range(self, model: Section | str, modstamp_field: str, start: datetime,
                                end: datetime, *, include_deleted: bool = True) -> int:
        """Rows whose stored modstamp lies in [start, end) (without those marked deleted, if asked)."""
        with self.engine.connect() as conn:
            return records.count_in_modstamp_range(conn, self.schema, self.section(model).model,
                                                   MODSTAMP_COLUMNS[cursors.check_modstamp_field(modstamp_field)],
                                                   start, end, include_deleted=include_deleted)

    def changed_by_system(self, model: Section | str, since: datetime | None) -> list[dict[str, Any]]:
        """Rows whose last write had origin 'system' after `since` (all of them for None): the nightly push."""
        table = self.table(model)
        query = sa.select(table).where(table.c.origin == "system").order_by(table.c.id)
        if since is not None:
            query = query.where(table.c.updated_at > since)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- send bookkeeping --------------------------------------------------------------------------
    def outbox_entries(self, model: Section | str | None = None, *,
                       include_dead: bool = True) -> list[outbox.OutboxEntry]:
        with self.engine.connect() as conn:
            name = None if model is None else self.section(model).model
            return outbox.entries(conn, self.schema, name, include_dead=include_dead)

    def claim_outbox(self, *, limit: int | None = None, lease_seconds: int | None = None,
                     model: Section | str | None = None, now: datetime | None = None,
                     ) -> tuple[str, list[outbox.OutboxEntry]]:
        """Lease due outbox rows; defaults: push_bulk_threshold rows, claim_lease_seconds."""
        defaults = self.settings.defaults
        with write_transaction(self.engine) as conn:
            return outbox.claim(conn, self.schema, limit=limit or defaults.push_bulk_threshold,
                                lease_seconds=lease_seconds or defaults.claim_lease_seconds,
                                model=None if model is None else self.section(model).model, now=now)

    def complete_outbox(self, ids: Sequence[int], claim_token: str) -> int:
        """Remove sent rows (only under the caller's claim)."""
        with write_transaction(self.engine) as conn:
            return outbox.complete(conn, self.schema, list(ids), claim_token)

    def fail_outbox(self, entry_id: int, claim_token: str, error: dict[str, Any], *,
                    now: datetime | None = None) -> bool:
        """Record a failed send (backoff, dead letter after max_attempts); True when now dead."""
        defaults = self.settings.defaults
        with write_transaction(self.engine) as conn:
            return outbox.fail(conn, self.schema, entry_id, claim_token, error,
                               max_attempts=defaults.max_attempts, backoff_seconds=defaults.retry_backoff_seconds,
                               max_backoff_seconds=defaults.retry_backoff_max_seconds, now=now)

    def set_sync_status(self, model: Section | str, record_id: int, status: str,
                        error: dict[str, Any] | None = None, *, salesforce_id: str | None = None,
                        sent_modstamp: datetime | None = None) -> None:
        """Record a record's send outcome (ok | pending | error | skipped:<reason>), and after a write its
        Salesforce Id and the LastModifiedDate of that write (`sf_sent_modstamp`, never moves backwards)."""
        with write_transaction(self.engine) as conn:
            record_errors.set_sync_status(conn, self.schema, self.section(model).model, record_id, status, error,
                                          salesforce_id=salesforce_id, sent_modstamp=sent_modstamp)

    def records_with_status(self, model: Section | str, status: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return record_errors.records_with_status(conn, self.schema, self.section(model).model, status)

    # -- sync log ----------------------------------------------------------------------------------
    def log_event(self, event: str, *, section: Section | str | None = None, run_id: str | None = None,
                  count: int | None = None, details: Any = None, at: datetime | None = None) -> int:
        """Append a sync log event; `section` is stored by its Salesforce object name."""
        name = None if section is None else self.section(section).object
        with write_transaction(self.engine) as conn:
            return sync_log.log_event(conn, self.schema, event, section=name, run_id=run_id, count=count,
                                      details=details, at=at)

    def read_log(self, section: Section | str | None = None, since: datetime | None = None, *,
                 event: str | None = None, run_id: str | None = None,
                 limit: int | None = None, newest: bool = False) -> list[sync_log.LogEntry]:
        name = None if section is None else self.section(section).object
        with self.engine.connect() as conn:
            return sync_log.read_log(conn, self.schema, name, since, event=event, run_id=run_id, limit=limit,
                                     newest=newest)
