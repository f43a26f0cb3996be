"""The nightly push (what the system changed) and the push of every record of one model.

Nightly: for each sending section among NIGHTLY_MODELS, every live record with a sent field whose current
value differs from its last-agreed base and that no outbox row covers (those go out within seconds, or
wait as dead letters until the record changes). Whatever wrote the record last, a `system` change is
never dropped: a receive of another field leaves it pending, and a failed send stays pending for the next
night. The start time of each completed nightly push is kept in the sync log (`sync_completed` with
details {"push": "nightly", "started_at": ...}).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.platform.types import utc_now
from crm_sync.platform.values import parse_datetime
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import Section
from crm_sync.sync.send.push import Pusher, PushResult

NIGHTLY_MODELS = ("company", "end_user")
PAGE_SIZE = 10_000


def last_nightly_start(store: PlatformStore) -> datetime | None:
    """When the last completed nightly push started (None before the first)."""
    for entry in reversed(store.read_log(event="sync_completed")):
        details = entry.details if isinstance(entry.details, dict) else {}
        if details.get("push") == "nightly" and details.get("started_at"):
            return parse_datetime(details["started_at"])
    return None


def nightly_sections(store: PlatformStore, models: Sequence[str] = NIGHTLY_MODELS) -> list[Section]:
    return [s for s in store.settings.in_order() if s.sends and s.model in models]


def nightly_push(client: SalesforceClient, store: PlatformStore, *, run_id: str | None = None,
                 models: Sequence[str] = NIGHTLY_MODELS,
                 clock: Callable[[], datetime] = utc_now) -> dict[str, PushResult]:
    """Push the `system` changes newer than the last nightly push; one result per section."""
    started_at = utc_now()
    store.log_event("sync_started", run_id=run_id, details={"push": "nightly", "since": last_nightly_start(store)})
    results: dict[str, PushResult] = {}
    pusher = Pusher(client, store, run_id=run_id, clock=clock)
    try:
        for section in nightly_sections(store, models):
            results[section.model] = pusher.push_rows(section, store.pending_rows(section, without_outbox=True))
    except Exception as exc:
        store.log_event("sync_failed", run_id=run_id, details={"push": "nightly", "error": f"{exc}"})
        raise
    store.log_event("sync_completed", run_id=run_id, count=sum(r.sent for r in results.values()),
                    details={"push": "nightly", "started_at": started_at.isoformat(),
                             "sections": {m: r.metadata() for m, r in results.items()}})
    return results


def push_model(client: SalesforceClient, store: PlatformStore, model: str, *, run_id: str | None = None,
               page_size: int = PAGE_SIZE) -> PushResult:
    """Push every live record of one model (every send column), `page_size` records at a time."""
    section = store.section(model)
    if not section.sends:
        raise ValueError(f"section {section.object} does not send (direction {section.direction})")
    table = store.table(section)
    total = PushResult()
    pusher = Pusher(client, store, run_id=run_id)
    store.log_event("sync_started", section=section, run_id=run_id, details={"push": "model"})
    last_id = 0
    while True:
        with store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                sa.select(table).where(table.c.id > last_id, table.c.deleted.is_(sa.false()))
                .order_by(table.c.id).limit(page_size))]
        if not rows:
            break
        last_id = rows[-1]["id"]
        _add(total, pusher.push_rows(section, rows, every_column=True))
    store.log_event("sync_completed", section=section, run_id=run_id, count=total.sent,
                    details={"push": "model", **total.metadata()})
    return total


def _add(total: PushResult, part: PushResult) -> None:
    for name in ("sent", "created", "updated", "unchanged", "failed", "dead", "skipped", "matched", "overwritten",
                 "api_calls"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.seconds += part.seconds
    total.apis |= part.apis
    total.skip_reasons.update(part.skip_reasons)
    total.errors.extend(part.errors[: max(0, 20 - len(total.errors))])
