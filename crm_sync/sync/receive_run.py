"""One receive run of one section over a partition range: preflight, plan, receive, and the sync log.

The run's result keeps each partition's own counts (see partition_counts.py), so a range run reports per
partition what that day holds instead of the whole run's numbers on every day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast

from crm_sync.platform import ApplyCounts, PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.sync.partition_counts import PartitionCountingStore
from crm_sync.sync.preflight import check_sections
from crm_sync.sync.receive import Receiver, ReceiveResult
from crm_sync.sync.windows import DAY, Window, day_start, partition_start

COUNT_EVENTS = (("records_imported", "imported"), ("records_updated", "updated"), ("records_deleted", "deleted"))
# Figures of the whole run: reported once, on the first partition of the run's range.
RUN_FIGURES = ("api_calls", "pages", "seconds", "api")


@dataclass
class RangeReceipt:
    """A receive run over days first..last: the run's result and what each partition day received."""

    result: ReceiveResult
    first_day: date
    last_day: date
    first_partition: date
    per_day: dict[date, ApplyCounts] = field(default_factory=dict)
    row_counts: dict[date, int] = field(default_factory=dict)  # live platform rows in each partition

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]

    def partition_window(self, day: date) -> Window:
        """The part of the run's window that falls in one partition (the first holds all older history)."""
        window = self.result.window
        start = max(window.start, partition_start(day, self.first_partition))
        end = min(window.end, day_start(day) + DAY)
        return Window(start, max(start, end))

    def partition_metadata(self) -> dict[date, dict[str, object]]:
        """Per partition day: its own counts, rows and window; the run's API calls, pages and seconds only
        on the range's first day, so summing partitions never multiplies them."""
        run = self.result.metadata()
        metadata = {}
        for day in self.days():
            counts = self.per_day.get(day, ApplyCounts())
            window = self.partition_window(day)
            own: dict[str, object] = {
                "records_imported": counts.imported, "records_updated": counts.updated,
                "records_deleted": counts.deleted, "records_skipped": counts.skipped,
                "records_unchanged": counts.unchanged, "records_fetched": counts.total,
                "window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
                "cursor": window.end.isoformat() if self.result.cursor else "",
                "modstamp_field": self.result.modstamp_field,
                "run_partitions": f"{self.first_day.isoformat()}..{self.last_day.isoformat()}",
            }
            if day in self.row_counts:
                own["dagster/row_count"] = self.row_counts[day]
            if day == self.first_day:
                own.update({name: run[name] for name in RUN_FIGURES})
            metadata[day] = own
        return metadata


def count_partition_rows(store: PlatformStore, receipt: RangeReceipt) -> dict[date, int]:
    """Live platform rows whose modstamp lies in each partition of the range (the first: all older too)."""
    section = store.section(receipt.result.section)
    rows = {}
    for day in receipt.days():
        start = partition_start(day, receipt.first_partition)
        rows[day] = store.count_in_modstamp_range(section, receipt.result.modstamp_field, start,
                                                  day_start(day) + DAY, include_deleted=False)
    return rows


def receive_days(client: SalesforceClient, store: PlatformStore, section_name: str, first_day: date,
                 last_day: date, *, incremental: bool, modstamp_field: str | None = None,
                 run_id: str | None = None, clock: Callable[[], datetime] | None = None) -> RangeReceipt:
    """Receive one section for the days first_day..last_day (inclusive), logging start, counts and outcome.

    Nothing is fetched and no cursor moves when the preflight fails (credentials, unknown object or field).
    `clock` (default: the real one) is what "now" means for the windows.
    """
    section = store.section(section_name)
    field_name = modstamp_field or store.settings.defaults.modstamp_field
    try:
        check_sections(client, store.settings, [section])
    except Exception as exc:
        store.log_event("sync_failed", section=section, run_id=run_id,
                        details={"stage": "preflight", "error": f"{type(exc).__name__}: {exc}"})
        raise
    counting = PartitionCountingStore(store, first_day, last_day)
    receiver = Receiver(client, cast(PlatformStore, counting), **({"clock": clock} if clock else {}))
    window = receiver.plan_window(section, first_day, last_day, incremental=incremental, modstamp_field=field_name)
    store.log_event("sync_started", section=section, run_id=run_id,
                    details={"window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
                             "modstamp_field": field_name})
    try:
        result = receiver.receive_window(section, window, modstamp_field=field_name, run_id=run_id,
                                         days=(first_day, last_day))
        if incremental and not window.empty:
            hard = receiver.receive_deletes(section, window, run_id=run_id)
            result.counts = result.counts + ApplyCounts(deleted=hard)
    except Exception as exc:
        store.log_event("sync_failed", section=section, run_id=run_id,
                        details={"error": f"{type(exc).__name__}: {exc}"})
        raise
    for event, attribute in COUNT_EVENTS:
        count = getattr(result.counts, attribute)
        if count:
            store.log_event(event, section=section, run_id=run_id, count=count)
    store.log_event("sync_completed", section=section, run_id=run_id, count=result.fetched,
                    details=result.metadata())
    receipt = RangeReceipt(result, first_day, last_day, store.settings.defaults.partition_start_date,
                           per_day=dict(counting.counts))
    receipt.row_counts = count_partition_rows(store, receipt)
    return receipt
