"""Receive: fetch one section's records in a modstamp window from Salesforce and apply them to the platform.

The flow of one window (the same for a scheduled tick, a partition, a backfill range, and a replay):
1. one composite call surveys the window: its `COUNT()` (queryAll, so deletes count) picks the API, REST
   pages up to the section's bulk threshold, one Bulk API 2.0 query job above it; the same call brings the
   object's Id bounds (for Id ranges) and, once per client, the describes of every synced object (the
   section's own, and the parents its fields may name);
2. every fetched page is landed as Parquet first, then applied (upsert by Id where the
   incoming modstamp is newer; IsDeleted rows mark the platform record deleted); a Bulk receive streams
   its results into pages of `receive_page_records` while the next pages download in a background thread,
   and one above `bulk_range_records` runs as several jobs over Id ranges that together cover every Id once
   (`bulk_jobs_in_flight` prepared at a time);
3. the window's cursor is committed with the LAST page (a page is held back until the next one arrives), so a
   run broken between pages leaves the cursor where it was and the next run re-fetches the window; re-applied
   rows are no-ops because their modstamp is not newer.
Nothing here knows whether Salesforce is real or the sandbox.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import pyarrow as pa

from crm_sync.platform import ApplyCounts, CursorUpdate, PlatformStore
from crm_sync.salesforce import id_ranges, soql
from crm_sync.salesforce.client import SalesforceClient, Survey
from crm_sync.settings import Section
from crm_sync.sync.mapping import receive_fields, to_platform_page, with_filter
from crm_sync.sync.prefetch import prefetched
from crm_sync.sync.send import creates
from crm_sync.sync.windows import Window, incremental_window, partition_window

log = logging.getLogger(__name__)

Api = Literal["none", "rest", "bulk"]
DELETED_WINDOW = timedelta(days=15)  # how far back Salesforce's `deleted` resource answers


@dataclass
class ReceiveResult:
    """What receiving one window did: counts, API use, time, and where the cursor now stands."""

    section: str
    window: Window
    modstamp_field: str
    counts: ApplyCounts = field(default_factory=ApplyCounts)
    api: Api = "none"
    api_calls: int = 0
    pages: int = 0
    fetched: int = 0
    seconds: float = 0.0
    cursor: datetime | None = None

    def metadata(self) -> dict[str, object]:
        """Numeric and text facts for Dagster metadata and the sync log."""
        return {
            "records_imported": self.counts.imported,
            "records_updated": self.counts.updated,
            "records_deleted": self.counts.deleted,
            "records_skipped": self.counts.skipped,
            "records_unchanged": self.counts.unchanged,
            "records_fetched": self.fetched,
            "pages": self.pages,
            "api_calls": self.api_calls,
            "api": self.api,
            "seconds": round(self.seconds, 3),
            "window_start": self.window.start.isoformat(),
            "window_end": self.window.end.isoformat(),
            "cursor": self.cursor.isoformat() if self.cursor else "",
            "modstamp_field": self.modstamp_field,
        }


def window_where(section: Section, window: Window, modstamp_field: str) -> str:
    """The WHERE of a receive query over a modstamp window."""
    return with_filter(section, soql.window_condition(modstamp_field, window.start, window.end))


class Receiver:
    """Receives sections from one Salesforce client into one platform store."""

    def __init__(self, client: SalesforceClient, store: PlatformStore, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.client = client
        self.store = store
        self.defaults = store.settings.defaults
        self.clock = clock

    def plan_window(self, section: Section, first_day: date, last_day: date, *, incremental: bool,
                    modstamp_field: str) -> Window:
        """The window to fetch for a partition range: the whole days, or (incremental, one day) past its cursor."""
        now = self.clock()
        settle = timedelta(seconds=self.defaults.settle_seconds)
        first_partition = self.defaults.partition_start_date
        if not incremental or first_day != last_day:
            return partition_window(first_day, last_day, now=now, settle=settle, first_partition=first_partition)
        applied = self.store.get_partition_window(section, modstamp_field, first_day)
        return incremental_window(first_day, applied.window_end if applied else None, now=now,
                                  lookback=timedelta(minutes=self.defaults.lookback_minutes), settle=settle,
                                  first_partition=first_partition)

    def receive_window(self, section: Section, window: Window, *, modstamp_field: str,
                       run_id: str | None = None, days: tuple[date, date] | None = None) -> ReceiveResult:
        """Fetch and apply every record of `section` whose modstamp lies in `window`; move its cursors.

        `days` (first, last) names the partitions the window serves (default: the days it touches); their
        partition cursors close with the last page.
        """
        result = ReceiveResult(section.object, window, modstamp_field)
        days = list(days) if days else window.days(self.defaults.partition_start_date)
        final_cursor = CursorUpdate(upper_bound=window.end, partition_day=days[-1] if days else None,
                                    window_start=window.start, first_partition_day=days[0] if days else None)
        if window.empty:
            return result
        with self._measured(result):
            self._receive(section, window_where(section, window, modstamp_field), result, land_day=days[0],
                          cursor=final_cursor, run_id=run_id)
            if section.filter:
                self._mark_out_of_scope(section, window, modstamp_field, run_id)
        result.cursor = window.end
        log.info("received %s %s..%s: %s", section.object, window.start.isoformat(), window.end.isoformat(),
                 result.counts)
        return result

    def _mark_out_of_scope(self, section: Section, window: Window, modstamp_field: str,
                           run_id: str | None) -> None:
        """Records changed in the window that no longer meet the section's filter: kept, marked out of scope."""
        where = [soql.window_condition(modstamp_field, window.start, window.end), f"NOT ({section.filter})"]
        ids = [r["Id"] for r in self.client.query_records(soql.select(section.object, ["Id"], where))]
        if not ids:
            return
        marked = self.store.mark_out_of_scope(section, ids, self.clock())
        if marked:
            self.store.log_event("records_out_of_scope", section=section, run_id=run_id, count=marked)

    def receive_deletes(self, section: Section, window: Window, *, run_id: str | None = None) -> int:
        """Mark the records Salesforce deleted in `window` that queryAll may never show (hard deletes, an
        emptied recycle bin), from the `deleted` resource; return how many were newly marked.

        That resource reaches back DELETED_WINDOW (15 days): an older part of the window is logged as
        `deletes_unverified` (a full fetch and the reconciliation check find what it missed).
        """
        now = self.clock()
        earliest = now - DELETED_WINDOW + timedelta(minutes=1)
        start, end = max(window.start, earliest), min(window.end, now)
        if window.start < earliest:
            self.store.log_event("deletes_unverified", section=section, run_id=run_id, details={
                "from": window.start.isoformat(), "to": earliest.isoformat(),
                "reason": "Salesforce keeps deleted records' Ids for 15 days only"})
        if end - start < timedelta(minutes=1):  # the resource's resolution is one minute
            start = end - timedelta(minutes=1)
        deleted = self.client.deleted(section.object, start, end)
        marked = 0
        by_time: dict[datetime, list[str]] = {}
        for record_id, deleted_at in deleted:
            by_time.setdefault(deleted_at, []).append(record_id)
        for deleted_at, ids in by_time.items():
            marked += self.store.mark_deleted(section, ids, deleted_at)
        return marked

    def receive_where(self, section: Section, where: str, *, modstamp_field: str, run_id: str | None = None,
                      land_day: date | None = None) -> ReceiveResult:
        """Fetch and apply the records of `section` matching `where` (e.g. one account's), moving no cursor."""
        now = self.clock()
        result = ReceiveResult(section.object, Window(now, now), modstamp_field)
        with self._measured(result):
            self._receive(section, with_filter(section, where), result, land_day=land_day or now.date(),
                          cursor=None, run_id=run_id)
        return result

    @contextlib.contextmanager
    def _measured(self, result: ReceiveResult) -> Iterator[None]:
        """Fill the result's seconds and API calls with what the block spent."""
        started, calls_before = time.monotonic(), self.client.api_calls.total
        try:
            yield
        finally:
            result.seconds = time.monotonic() - started
            result.api_calls = self.client.api_calls.total - calls_before

    def _receive(self, section: Section, where: str, result: ReceiveResult, *, land_day: date,
                 cursor: CursorUpdate | None, run_id: str | None) -> None:
        """COUNT, then REST or Bulk pages, each landed then applied; `cursor` commits with the last page."""
        modstamp_field = result.modstamp_field
        survey = self.client.survey(section.object, where, include_deleted=True,  # count, Id bounds, describes
                                    also_describe=[s.object for s in self.store.settings.enabled_sections()])
        expected = survey.count
        if expected == 0:
            if cursor is not None:
                result.counts += self.store.apply_page(section, [], modstamp_field=modstamp_field, cursor=cursor)
            return
        result.api = "bulk" if expected > self.defaults.bulk_threshold else "rest"
        pending = list(self.store.pending_creates(section).values()) if section.sends else []
        pages = prefetched(self._fetch(section, where, result.api, survey))  # the next page comes meanwhile
        for page_no, page, is_last in _with_last(pages):
            result.pages += 1
            result.fetched += page.num_rows
            landed = self.store.land_page(section, land_day, page, page_no=page_no, run_id=run_id,
                                          window_start=result.window.start, window_end=result.window.end,
                                          modstamp_field=modstamp_field)
            links = creates.match_created(section, pending, page.to_pylist()) if pending else None
            result.counts += self.store.apply_page(
                section, to_platform_page(section, page), modstamp_field=modstamp_field,
                cursor=cursor if is_last else None, landed_path=landed, links=links)

    def _fetch(self, section: Section, where: str, api: Api, survey: Survey) -> Iterator[pa.Table]:
        fields = receive_fields(section)
        if api == "rest":
            return self.client.query_pages(soql.select(section.object, fields, where), include_deleted=True,
                                           batch_size=self.defaults.query_page_size)
        queries = [soql.select(section.object, fields, [where, part])
                   for part in self._id_ranges(survey)] or [soql.select(section.object, fields, where)]
        return self.client.bulk_query_parts(queries, include_deleted=True, max_records=self.defaults.bulk_page_records,
                                            page_rows=self.defaults.receive_page_records,
                                            expected_records=survey.count, in_flight=self.defaults.bulk_jobs_in_flight)

    def _id_ranges(self, survey: Survey) -> list[str]:
        """Id-range conditions splitting a large Bulk receive into parts of about bulk_range_records; none
        when the window is small enough for one job.

        The bounds are the object's, not the window's: the ranges cover every Id whatever the bounds
        (see id_ranges), and the object's are found from the Id index at once where a window's need a scan;
        the price is less even parts when a window's records sit in a narrow band of Ids.
        """
        parts = -(-survey.count // self.defaults.bulk_range_records)
        if parts < 2 or survey.id_bounds is None:
            return []
        return id_ranges.conditions(id_ranges.split(*survey.id_bounds, parts))

    def replay_landed(self, section: Section, *, day: date | None = None) -> ApplyCounts:
        """Apply landed pages whose apply never committed, from Parquet, without any API call."""
        counts = ApplyCounts()
        for landed in self.store.pages_to_replay(section, day=day):
            page = self.store.read_landed_page(landed.path)
            counts += self.store.apply_page(section, to_platform_page(section, page),
                                            modstamp_field=landed.modstamp_field or self.defaults.modstamp_field,
                                            landed_path=landed.path)
        return counts


def _with_last(pages: Iterator[pa.Table]) -> Iterator[tuple[int, pa.Table, bool]]:
    """Each page with its number and whether it is the last one (one page of look-ahead)."""
    previous: pa.Table | None = None
    number = 0
    for page in pages:
        if previous is not None:
            yield number, previous, False
            number += 1
        previous = page
    if previous is not None:
        yield number, previous, True
