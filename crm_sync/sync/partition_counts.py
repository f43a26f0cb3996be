"""Per-partition counts of a receive run over a range of day partitions.

A run over days first..last applies pages that mix records of many days. To report each partition's own
numbers, every page is applied day by day: `PartitionCountingStore.apply_page` splits a page by the UTC day of
the record's active modstamp and applies each slice through the real store, so each partition's ApplyCounts
are exactly what the apply did for its records. Invariants:
- a record counts in the partition of its modstamp day, clamped to the run's range (the first partition
  holds every older record; a lookback reaching before the range counts in the range's first day); so the
  partitions' counts add up to the run's;
- the cursor and the landing manifest move with the LAST slice of a page, so a run broken between slices
  leaves them where they were and the re-run re-applies the page; already applied rows are no-ops.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from crm_sync.platform import ApplyCounts, PlatformStore
from crm_sync.platform.cursors import CursorUpdate
from crm_sync.platform.pages import MODSTAMP_COLUMNS, Rows, normalize_page
from crm_sync.settings import Section
from crm_sync.sync.progress import page_applied


def day_of_each_row(page: pa.Table, modstamp_field: str) -> pa.Array:
    """The UTC day (date32) of each row's active modstamp."""
    stamps = page.column(MODSTAMP_COLUMNS[modstamp_field])
    return pc.cast(pc.cast(stamps, pa.timestamp("us")), pa.date32()).combine_chunks()


class PartitionCountingStore:
    """A PlatformStore for one run over days first..last that applies and counts each page per partition day.

    Everything but `apply_page` is the wrapped store's own.
    """

    def __init__(self, store: PlatformStore, first_day: date, last_day: date) -> None:
        self._store = store
        self.first_day = first_day
        self.last_day = last_day
        self.counts: dict[date, ApplyCounts] = defaultdict(ApplyCounts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def partition_of(self, day: date) -> date:
        return min(max(day, self.first_day), self.last_day)

    def apply_page(self, section: Section | str, rows: Rows, *, modstamp_field: str,
                   cursor: CursorUpdate | None = None, landed_path: str | Path | None = None,
                   links: Mapping[str, int] | None = None) -> ApplyCounts:
        resolved = self._store.section(section)
        apply: Callable[..., ApplyCounts] = self._store.apply_page
        page = normalize_page(resolved, rows, modstamp_field)
        slices = self._slices(page, modstamp_field)
        if not slices:  # an empty page still commits the cursor
            return apply(resolved, page, modstamp_field=modstamp_field, cursor=cursor, landed_path=landed_path,
                         links=links)
        total = ApplyCounts()
        for number, (day, rows_of_day) in enumerate(slices):
            last = number == len(slices) - 1
            counts = apply(resolved, rows_of_day, modstamp_field=modstamp_field,
                           cursor=cursor if last else None, landed_path=landed_path if last else None,
                           links=links)  # links only touch rows without an Id: the same for every slice
            self.counts[day] += counts
            total += counts
        page_applied(resolved.object, page.num_rows)
        return total

    def _slices(self, page: pa.Table, modstamp_field: str) -> list[tuple[date, pa.Table]]:
        """The page's rows grouped by partition day, in day order."""
        if page.num_rows == 0:
            return []
        days = day_of_each_row(page, modstamp_field)
        first, last = pa.scalar(self.first_day, pa.date32()), pa.scalar(self.last_day, pa.date32())
        clamped = pc.min_element_wise(pc.max_element_wise(days, first), last)
        return [(day, page.filter(pc.equal(clamped, pa.scalar(day, pa.date32()))))
                for day in sorted(pc.unique(clamped).to_pylist())]
