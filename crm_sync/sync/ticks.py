"""What one scheduled receive tick should run: which sections, for which day partitions.

One composite API call finds the sections with something new (see changes.py); each due section is run
for today's partition, and for yesterday's while that day's cursor has not reached midnight. A section the
call found current is a successful sync too: `log_checked_sections` writes its `sync_completed` row (0
records, `checked_only`), so staleness measures when a section was last known current, not last busy.
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


def log_checked_sections(store: PlatformStore, plan: TickPlan, *, modstamp_field: str,
                         trigger: str | None = None) -> list[str]:
    """A `sync_completed` row (0 records) for each section the tick asked about and found with nothing new."""
    checked = [c for c in plan.changes if not c.due]
    for change in checked:
        store.log_event("sync_completed", section=change.section, count=0, details={
            "checked_only": True, "modstamp_field": modstamp_field, "trigger": trigger,
            "cursor": change.cursor.isoformat() if change.cursor else None})
    return [c.section for c in checked]
