"""A push that stays: after its first batch, a run keeps claiming and pushing new outbox rows.

`follow_outbox` pushes the batch it is given, then polls the outbox every `poll_seconds` (a read; the
write lock of a claim is taken only when a row is due) and pushes each new claim with `push_changes`,
so every guarantee of a push holds per batch (record claims with a fence, leases, re-read, ack).
It returns once nothing was due for `idle_seconds`, after `max_seconds` in all, or when `stop()` says
so. Under the daemon an edit then waits for the next poll instead of a sensor tick and a run's start.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.sync.send.outbox_batches import Batch, claim_batch
from crm_sync.sync.send.push import PushResult, push_changes


def follow_outbox(client: SalesforceClient, store: PlatformStore, *, first: Batch | None, limit: int,
                  idle_seconds: float, poll_seconds: float, max_seconds: float, run_id: str | None = None,
                  stop: Callable[[], bool] = lambda: False,
                  on_push: Callable[[PushResult], None] | None = None) -> PushResult:
    """Push `first`, then every due claim until idle (see the module docstring); the results summed."""
    started = time.monotonic()
    total = PushResult()
    batch = first if first is not None else claim_batch(store, limit=limit)
    last_work = time.monotonic()
    while True:
        if not batch.empty:
            result = push_changes(client, store, batch=batch, run_id=run_id)
            total.add(result)
            if on_push is not None:
                on_push(result)
            last_work = time.monotonic()
        now = time.monotonic()
        if stop() or now - started >= max_seconds or now - last_work >= idle_seconds:
            return total
        time.sleep(poll_seconds)
        batch = claim_batch(store, limit=limit) if store.oldest_due_outbox() is not None else Batch("", [])
