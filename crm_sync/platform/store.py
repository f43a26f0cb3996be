"""`PlatformStore`: the one object the rest of crm_sync uses to read and write the platform database.

It opens the database by URL (SQLite or Postgres), builds the tables from the sync sections, migrates
them at open, and offers the receive side (apply_page, mark_deleted, cursors, landing), the send side
(write_record, outbox, sync status) and the sync log. Each method runs in its own transaction.
Sections may be named by Salesforce object (`"Account"`), by model (`"company"`) or given as `Section`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from crm_sync.platform import (
    claims,
    cursors,
    landing,
    outbox,
    push_state,
    record_errors,
    records,
    staging,
    sync_log,
)
from crm_sync.platform.engine import create_platform_engine, platform_url, write_transaction
from crm_sync.platform.errors import apply_errors_named
from crm_sync.platform.migrate import SchemaChanges, ensure_schema
from crm_sync.platform.pages import MODSTAMP_COLUMNS, Rows, normalize_page
from crm_sync.platform.schema import PlatformSchema
from crm_sync.settings import Section, Settings, load_settings

# Rows one apply transaction writes at most: about a third of a second on SQLite, whose single write lock a
# user's edit (the push's claim) waits for; a larger page is applied in several (see apply_page).
APPLY_ROWS_PER_TRANSACTION = 10_000


class PlatformStore:
    """The platform database of one set of sync sections."""

    def __init__(self, url: str | None = None, settings: Settings | None = None, *,
                 landing_root: str | Path | None = None, migrate: bool = True) -> None:
        self.url = platform_url(url)
        self.settings = settings if settings is not None else load_settings()
        self.engine = create_platform_engine(self.url)
        self.landing = landing.landing_root(landing_root)  # given, else $CRM_SYNC_LANDING_URL, else local
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
                   landed_path: str | Path | None = None,
                   links: Mapping[str, int] | None = None) -> records.ApplyCounts:
        """Apply one received page in transactions of at most `APPLY_ROWS_PER_TRANSACTION` rows and count it.

        The cursor and the landing manifest move in the last transaction only, so a page stops being due
        only once all of it is applied; one that stopped in between is applied again, and its rows already
        applied are then unchanged (applying a version twice is the same as once). Short transactions keep
        SQLite's single write lock free for a user's edit while a large receive runs.
        `rows`: an Arrow table or dicts keyed by platform column plus salesforce_id, sf_last_modified,
        sf_system_modstamp and optionally deleted (see pages.py). `modstamp_field` (LastModifiedDate or
        SystemModstamp) picks the modstamp that decides "newer". Counting rules: records.py.
        """
        resolved = self.section(section)
        if not resolved.direction.receives:
            raise ValueError(f"section {resolved.object} is {resolved.direction.value!r}: it does not receive")
        page = normalize_page(resolved, rows, modstamp_field)  # one row per record: no record spans two parts
        step = APPLY_ROWS_PER_TRANSACTION
        starts = range(0, page.num_rows, step) if page.num_rows else range(1)
        counts = records.ApplyCounts()
        parts = [page.slice(start, step) for start in starts]
        with contextlib.closing(self._staged(resolved, parts)) as staged_parts:  # no file outlives a failure
            for index, (part, staged) in enumerate(zip(parts, staged_parts, strict=True)):
                last = index == len(parts) - 1
                files = {staging.SQLITE_STAGE_SCHEMA: staged.path} if staged is not None else None
                with apply_errors_named(resolved, part), write_transaction(self.engine, attach=files) as conn:
                    counts += records.apply_page(
                        conn, self.schema, resolved, part, modstamp_field=modstamp_field,
                        cursor=cursor if last else None,
                        landed_path=None if landed_path is None or not last else str(landed_path),
                        links=links if index == 0 else None, staged=staged.table if staged is not None else None)
        return counts

    def _staged(self, section: Section, parts: Sequence[pa.Table]) -> Iterator[staging.StageFile | None]:
        """On SQLite each part in a staging file, written ahead (staging.py); on Postgres none (the apply COPYs
        the part into a temporary table)."""
        if self.engine.dialect.name != "sqlite":
            yield from (None for _ in parts)
            return

        def stage(part: pa.Table) -> staging.StageFile:
            columns = records.staging_columns(section, part, keyed=True)
            with apply_errors_named(section, part):
                return staging.write_sqlite_stage(records.staging_name(section), columns,
                                                  records.staging_data(section, part))

        yield from staging.staged_ahead(stage, parts)

    def mark_deleted(self, section: Section | str, salesforce_ids: Iterable[str], deleted_at: datetime) -> int:
        """Mark rows deleted (never removed); return how many were newly marked."""
        with write_transaction(self.engine) as conn:
            return records.mark_deleted(conn, self.schema, self.section(section), salesforce_ids, deleted_at)

    def mark_out_of_scope(self, section: Section | str, salesforce_ids: Iterable[str], at: datetime) -> int:
        """Mark rows whose record left the section's filter (kept); return how many were newly marked."""
        with write_transaction(self.engine) as conn:
            return records.mark_out_of_scope(conn, self.schema, self.section(section), salesforce_ids, at)

    def get_cursor(self, section: Section | str, modstamp_field: str) -> datetime | None:
        """Upper bound of the last applied window of a section (None before the first)."""
        with self.engine.connect() as conn:
            return cursors.get_cursor(conn, self.schema, self.section(section).object, modstamp_field)

    def get_partition_window(self, section: Section | str, modstamp_field: str,
                             day: date) -> cursors.PartitionWindow | None:
        """Last applied window of one partition day."""
        with self.engine.connect() as conn:
            return cursors.get_partition_window(conn, self.schema, self.section(section).object, modstamp_field, day)

    def applied_partition_ends(self, section: Section | str, modstamp_field: str) -> dict[date, datetime]:
        """Partition day -> end of its applied window, for every day of the section that has a row."""
        with self.engine.connect() as conn:
            return cursors.applied_partition_ends(conn, self.schema, self.section(section).object, modstamp_field)

    def owe_partitions(self, section: Section | str, modstamp_field: str, days: list[date]) -> None:
        """Mark partition days as due (kept owed until a run applies them to their end)."""
        with write_transaction(self.engine) as conn:
            cursors.owe_partitions(conn, self.schema, self.section(section).object, modstamp_field, days)

    def land_page(self, section: Section | str, day: date, table: pa.Table, *, page_no: int,
                  run_id: str | None = None, window_start: datetime | None = None,
                  window_end: datetime | None = None, modstamp_field: str | None = None,
                  root: str | Path | None = None) -> str:
        """Write a fetched page to Parquet under root/Object/YYYY-MM-DD/ and list it in the manifest; its URL."""
        where = landing.landing_root(root) if root else self.landing
        with write_transaction(self.engine) as conn:
            return landing.land_page(conn, self.schema, where,
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

    def count_live(self, model: Section | str, salesforce_ids: Sequence[str]) -> int:
        """How many of these Salesforce Ids the platform holds and has not marked deleted."""
        if not salesforce_ids:
            return 0
        table = self.table(model)
        with self.engine.connect() as conn:
            return sum(conn.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.salesforce_id.in_(list(salesforce_ids[i:i + 500])), table.c.deleted.is_(sa.false()))
            ).scalar_one() for i in range(0, len(salesforce_ids), 500))

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

    def has_schema(self) -> bool:
        """Whether crm_sync's tables exist in the database yet (the first receive or `crm-sync ui` makes them)."""
        return sa.inspect(self.engine).has_table(self.schema.outbox.name)

    def oldest_due_outbox(self, *, now: datetime | None = None) -> datetime | None:
        """When the longest-waiting due outbox row became due (None: nothing is due); a read only."""
        with self.engine.connect() as conn:
            return outbox.oldest_due(conn, self.schema, now=now)

    def outbox_column_times(self, model: Section | str, record_ids: Sequence[int]) -> dict[int, dict[str, datetime]]:
        """Per record, each column's newest outbox row time (any row of the record, leased or not)."""
        with self.engine.connect() as conn:
            return outbox.column_times(conn, self.schema, self.section(model).model, sorted(set(record_ids)))

    def release_outbox(self, ids: Sequence[int], claim_token: str, *, retry_at: datetime) -> int:
        """Give claimed rows back unsent, due again at `retry_at`."""
        with write_transaction(self.engine) as conn:
            return outbox.release(conn, self.schema, list(ids), claim_token, retry_at=retry_at)

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

    # -- push claims and the last-agreed base ------------------------------------------------------
    def claim_records(self, model: Section | str, record_ids: Iterable[int], token: str, *,
                      lease_seconds: int | None = None, now: datetime | None = None) -> dict[int, claims.Claim]:
        """Claim whole records for a push (those no other live claim holds); see claims.py."""
        lease = lease_seconds or self.settings.defaults.claim_lease_seconds
        with write_transaction(self.engine) as conn:
            return claims.claim(conn, self.schema, self.section(model).model, record_ids, token,
                                lease_seconds=lease, now=now)

    def renew_claims(self, token: str, *, lease_seconds: int | None = None) -> int:
        """Extend the leases of a push's record claims and outbox rows (its keep-alive)."""
        lease = lease_seconds or self.settings.defaults.claim_lease_seconds
        with write_transaction(self.engine) as conn:
            renewed = claims.renew(conn, self.schema, token, lease_seconds=lease)
            outbox.renew(conn, self.schema, token, lease_seconds=lease)
            return renewed

    def release_claims(self, token: str) -> int:
        with write_transaction(self.engine) as conn:
            return claims.release_all(conn, self.schema, token)

    def release_claim(self, model: Section | str, held: claims.Claim, *, create_known: bool) -> bool:
        with write_transaction(self.engine) as conn:
            return claims.release(conn, self.schema, held, create_known=create_known)

    def start_pending(self, *, creates: Sequence[tuple[claims.Claim, str | None, dict[str, Any]]],
                      updates: Sequence[tuple[claims.Claim, dict[str, Any], datetime | None]], at: datetime) -> None:
        """Before a push writes: its creates (claim, key, values) and updates (claim, values, modstamp seen)
        recorded on their claims in one transaction, kept until acknowledged (see claims)."""
        with write_transaction(self.engine) as conn:
            claims.start_creates(conn, self.schema, creates, at=at)
            claims.start_writes(conn, self.schema, updates, at=at)

    def pending_writes(self, model: Section | str, record_ids: Sequence[int]) -> dict[int, claims.PendingWrite]:
        with self.engine.connect() as conn:
            return claims.pending_writes(conn, self.schema, self.section(model).model, record_ids)

    def pending_creates(self, model: Section | str,
                        record_ids: Sequence[int] | None = None) -> dict[int, claims.PendingCreate]:
        with self.engine.connect() as conn:
            return claims.pending_creates(conn, self.schema, self.section(model).model, record_ids)

    def acknowledge_push(self, model: Section | str, held: claims.Claim, *, salesforce_id: str | None,
                         sent: Mapping[str, Any], sent_modstamp: datetime | None, outbox_ids: Sequence[int],
                         outbox_token: str | None) -> bool:
        """An accepted write: base := sent values, Id and status stored, claim and outbox rows done."""
        with write_transaction(self.engine) as conn:
            return push_state.acknowledge(conn, self.schema, self.section(model), held, salesforce_id=salesforce_id,
                                          sent=sent, sent_modstamp=sent_modstamp, outbox_ids=outbox_ids,
                                          outbox_token=outbox_token)

    def acknowledge_pushes(self, model: Section | str, accepted: Sequence[push_state.Accepted], *,
                           outbox_token: str | None) -> set[int]:
        """`acknowledge_push` for many records in one transaction; the ids whose row still exists."""
        with write_transaction(self.engine) as conn:
            return push_state.acknowledge_many(conn, self.schema, self.section(model), accepted,
                                               outbox_token=outbox_token)

    def store_keys(self, model: Section | str, column: str, keys: Mapping[int, str]) -> None:
        """`store_key` for many records (record id -> key) in one transaction."""
        with write_transaction(self.engine) as conn:
            push_state.store_keys(conn, self.schema, self.section(model), column, keys)

    def linked_ids(self, model: Section | str) -> list[str]:
        """Every Salesforce Id a row of the model holds."""
        table = self.table(model)
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(table.c.salesforce_id).where(table.c.salesforce_id.is_not(None)))
                        .scalars())

    def wake_records(self, model: Section | str, record_ids: Sequence[int]) -> None:
        """An outbox row for each record, so its pending fields are pushed as soon as it is free."""
        section = self.section(model)
        with write_transaction(self.engine) as conn:
            for record_id in record_ids:
                push_state.wake(conn, self.schema, section.model, record_id, [])

    def take_salesforce_values(self, model: Section | str, record_id: int, values: Mapping[str, Any]) -> None:
        with write_transaction(self.engine) as conn:
            push_state.take_salesforce(conn, self.schema, self.section(model), record_id, values)

    def agree_values(self, model: Section | str, record_id: int, values: Mapping[str, Any]) -> None:
        with write_transaction(self.engine) as conn:
            push_state.agree(conn, self.schema, self.section(model), record_id, values)

    def store_key(self, model: Section | str, record_id: int, column: str, key: str) -> None:
        with write_transaction(self.engine) as conn:
            push_state.store_key(conn, self.schema, self.section(model), record_id, column, key)

    def link_created(self, model: Section | str, record_id: int, salesforce_id: str) -> bool:
        """A create found in Salesforce: the row gets its Id and the create is known."""
        section = self.section(model)
        with write_transaction(self.engine) as conn:
            linked = push_state.link(conn, self.schema, section, record_id, salesforce_id)
            claims.forget_create(conn, self.schema, section.model, record_id)
            return linked

    def pending_rows(self, model: Section | str, *, without_outbox: bool = False) -> list[dict[str, Any]]:
        """Live rows with a sent column that differs from its base (the nightly push's work); with
        `without_outbox`, only those no outbox row (waiting or dead) already covers."""
        section = self.section(model)
        table = self.table(section)
        query = (sa.select(table).where(push_state.pending_condition(table, section), table.c.deleted.is_(sa.false()))
                 .order_by(table.c.id))
        if without_outbox:
            box = self.schema.outbox
            query = query.where(~sa.exists().where(box.c.model == section.model, box.c.record_id == table.c.id))
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

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
