"""From outbox rows to work: claim with a lease, merge per record, group by model.

Rows are never deleted on read: `claim_batch` leases them (invisible to other claimers until the lease
ends); the push removes the rows it sent and records failures on the others. Several rows of one record
merge into one change: the changed columns are united and the record's current values are sent, so the
latest value wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crm_sync.platform import OutboxEntry, PlatformStore


@dataclass
class PendingChange:
    """The merged outbox rows of one record."""

    model: str
    record_id: int
    entry_ids: list[int] = field(default_factory=list)
    changed_columns: list[str] = field(default_factory=list)
    changed_at: datetime | None = None  # the newest row's time
    column_times: dict[str, datetime] = field(default_factory=dict)  # per column, its newest row's time
    attempts: int = 0

    def add(self, entry: OutboxEntry) -> None:
        self.entry_ids.append(entry.id)
        for column in entry.changed_columns:
            if column not in self.changed_columns:
                self.changed_columns.append(column)
            if column not in self.column_times or entry.created_at > self.column_times[column]:
                self.column_times[column] = entry.created_at
        if self.changed_at is None or entry.created_at > self.changed_at:
            self.changed_at = entry.created_at
        self.attempts = max(self.attempts, entry.attempts)


@dataclass(frozen=True)
class Batch:
    """Claimed outbox rows and the token that proves the claim."""

    claim_token: str
    entries: list[OutboxEntry]

    @property
    def empty(self) -> bool:
        return not self.entries

    def changes(self) -> list[PendingChange]:
        return merge_per_record(self.entries)


def claim_batch(store: PlatformStore, *, limit: int | None = None, model: str | None = None,
                now: datetime | None = None) -> Batch:
    """Lease up to `limit` due outbox rows (default: the store's push_bulk_threshold)."""
    token, entries = store.claim_outbox(limit=limit, model=model, now=now)
    return Batch(token, entries)


def claimed_batch(store: PlatformStore, claim_token: str) -> Batch:
    """The rows still leased under `claim_token` (a sensor claimed them for this run); none once re-claimed."""
    return Batch(claim_token, [e for e in store.outbox_entries(include_dead=False) if e.claim_token == claim_token])


def merge_per_record(entries: Sequence[OutboxEntry]) -> list[PendingChange]:
    """One PendingChange per (model, record), in order of the record's first outbox row."""
    merged: dict[tuple[str, int], PendingChange] = {}
    for entry in entries:
        key = (entry.model, entry.record_id)
        if key not in merged:
            merged[key] = PendingChange(entry.model, entry.record_id)
        merged[key].add(entry)
    return list(merged.values())


def group_by_model(changes: Sequence[PendingChange]) -> dict[str, list[PendingChange]]:
    grouped: dict[str, list[PendingChange]] = {}
    for change in changes:
        grouped.setdefault(change.model, []).append(change)
    return grouped


def chunked(items: Sequence, size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
