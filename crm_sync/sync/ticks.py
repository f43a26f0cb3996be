"""What one scheduled receive tick should run: which sections, for which day partitions.

One composite API call finds the sections with something new (see changes.py); each due section is run
for today's partition, and for yesterday's while that day's cursor has not reached midnight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import Section
from crm_sync.sync.changes import SectionChanges, find_changes
from crm_sync.sync.windows import DAY, days_to_tick


@dataclass(frozen=True)
class TickPlan:
    """The partitions to run and, per partition, the sections (Salesforce objects) that are due."""

    runs: dict[date, list[str]]
    changes: list[SectionChanges]

    @property
    def empty(self) -> bool:
        return not any(self.runs.values())


def plan_tick(client: SalesforceClient, store: PlatformStore, sections: Sequence[Section], *,
              modstamp_field: str, now: datetime | None = None) -> TickPlan:
    """Ask Salesforce (one API call) which sections changed and decide the partitions to run."""
    now = now or datetime.now(UTC)
    settle = timedelta(seconds=store.settings.defaults.settle_seconds)
    today = now.date()
    changes = find_changes(client, store, sections, modstamp_field=modstamp_field)
    runs: dict[date, list[str]] = {}
    for change in changes:
        if not change.due:
            continue
        windows = {day: store.get_partition_window(change.section, modstamp_field, day)
                   for day in (today - DAY, today)}
        cursors = {day: (w.window_end if w else None) for day, w in windows.items()}
        for day in days_to_tick(today, cursors, now=now, settle=settle):
            runs.setdefault(day, []).append(change.section)
    return TickPlan(runs=runs, changes=changes)
