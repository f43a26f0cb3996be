"""What one scheduled receive tick should run: which sections, for which day partitions.

One composite API call finds the sections with something new (see changes.py); each due section is run
for every partition it owes (windows.days_to_tick: from its cursor's day through today, however long the
sync was paused, and any earlier day a tick planned that has not been applied yet). The planned days are
recorded as owed before the runs start, so a run that fails or never starts leaves its day owed.
A section the call found current is a successful sync too: `log_checked_sections` writes its
`sync_completed` row (0 records, `checked_only`), so staleness measures when a section was last known
current, not last busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import Section
from crm_sync.sync.changes import SectionChanges, find_changes
from crm_sync.sync.windows import days_to_tick


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
    """Ask Salesforce (one composite call per 8 sections) which sections changed and decide the partitions to run."""
    now = now or datetime.now(UTC)
    defaults = store.settings.defaults
    settle = timedelta(seconds=defaults.settle_seconds)
    lookback = timedelta(minutes=defaults.lookback_minutes)
    today = now.date()
    changes = find_changes(client, store, sections, modstamp_field=modstamp_field, now=now)
    runs: dict[date, list[str]] = {}
    for change in changes:
        if not change.due:
            continue
        applied = store.applied_partition_ends(change.section, modstamp_field)
        days = days_to_tick(today, change.cursor, applied, now=now, settle=settle, lookback=lookback,
                            first_partition=defaults.partition_start_date)
        store.owe_partitions(change.section, modstamp_field, days)
        for day in days:
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
