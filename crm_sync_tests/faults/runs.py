"""The sync runs of the fault suite: the same functions Dagster's jobs call, optionally in a child process
that is SIGKILLed at a random moment or at a named point.

- receive tick: `plan_tick` (what the 10/30-minute schedules ask) and `receive_days` per due partition and
  section in sync order (what each launched run's assets do; a failing asset stops the rest of its run);
- full fetch: `receive_days` over ranges of `BACKFILL_DAYS_PER_RUN` days (the backfill policy);
- push: `claim_batch` (the `platform_outbox` sensor) then `push_changes` (the `push_changes` job);
- nightly: `nightly_push` (the `nightly_push` job).
Receive runs take the org's clock (the sandbox's time may be shifted); pushes take the platform's clock
(shifted forward to let leases and backoffs run out). Named kill points: `landed` (a page landed, before
its apply), `claimed` (a claim made, nothing sent), `written` (Salesforce wrote, before the acknowledgement:
the Pusher's own `checkpoint` hook).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from crm_sync.defs.receive_assets import BACKFILL_DAYS_PER_RUN
from crm_sync.defs.send import CLAIM_LIMIT
from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient, SalesforceConfig
from crm_sync.settings import Settings
from crm_sync.sync.receive_run import receive_days
from crm_sync.sync.send.nightly import nightly_push
from crm_sync.sync.send.outbox_batches import claim_batch
from crm_sync.sync.send.push import Pusher, push_changes
from crm_sync.sync.ticks import plan_tick

Clock = Callable[[], datetime]
CLIENT_SETTINGS = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "bulk_poll_interval": 0.02}
KILL_POINTS = {"tick": ("landed",), "push": ("claimed", "written"), "nightly": ("written",)}


@dataclass
class Kill:
    """Where a run dies: at a named point (after its `nth` passage), or after `seconds` (a timer)."""

    point: str | None = None
    nth: int = 1
    seconds: float | None = None

    def __str__(self) -> str:
        return f"timer {self.seconds:.2f}s" if self.point is None else f"{self.point} #{self.nth}"


@dataclass
class RunOutcome:
    """What one run did (counts), or how it ended (killed, failed with an error)."""

    kind: str
    killed: Kill | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(self.counts.values())


@dataclass
class RunContext:
    """How a run reaches both sides: the sandbox's env, the platform URL, settings and clocks."""

    salesforce_env: dict[str, str]
    platform_url: str
    settings: Settings
    landing_root: Path
    org_clock: Clock
    platform_clock: Clock
    modstamp_field: str

    def client(self) -> SalesforceClient:
        return SalesforceClient(SalesforceConfig.from_env(self.salesforce_env, **CLIENT_SETTINGS))

    def store(self) -> PlatformStore:
        return PlatformStore(self.platform_url, self.settings, landing_root=self.landing_root, migrate=False)


class _Checkpoints:
    """Counts passages of named points and SIGKILLs this process at the chosen one."""

    def __init__(self, kill: Kill | None) -> None:
        self.kill = kill
        self.passed: dict[str, int] = {}

    def __call__(self, point: str) -> None:
        self.passed[point] = self.passed.get(point, 0) + 1
        if self.kill and self.kill.point == point and self.passed[point] >= self.kill.nth:
            os.kill(os.getpid(), signal.SIGKILL)


def _receive(client: SalesforceClient, store: PlatformStore, ctx: RunContext, obj: str, first: date,
             last: date, *, incremental: bool) -> dict[str, int]:
    receipt = receive_days(client, store, obj, first, last, incremental=incremental,
                           modstamp_field=ctx.modstamp_field, clock=ctx.org_clock)
    counts = receipt.result.counts
    return {"imported": counts.imported, "updated": counts.updated, "deleted": counts.deleted}


def _add(total: dict[str, int], part: dict[str, int]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value


def full_fetch(client: SalesforceClient, store: PlatformStore, ctx: RunContext) -> dict[str, int]:
    """Every partition of every receiving section, BACKFILL_DAYS_PER_RUN days a run, in sync order."""
    total: dict[str, int] = {}
    first_day = store.settings.defaults.partition_start_date
    today = ctx.org_clock().date()
    for section in store.settings.receiving_sections():
        start = first_day
        while start <= today:
            end = min(today, start + timedelta(days=BACKFILL_DAYS_PER_RUN - 1))
            _add(total, _receive(client, store, ctx, section.object, start, end, incremental=False))
            start = end + timedelta(days=1)
    return total


def receive_tick(client: SalesforceClient, store: PlatformStore, ctx: RunContext,
                 errors: list[str] | None = None) -> dict[str, int]:
    """One scheduled tick: plan with one composite call, then one run per due partition."""
    sections = store.settings.receiving_sections()
    plan = plan_tick(client, store, sections, modstamp_field=ctx.modstamp_field, now=ctx.org_clock())
    order = [s.object for s in sections]
    total: dict[str, int] = {}
    for day, objects in sorted(plan.runs.items()):
        for obj in sorted(objects, key=order.index):
            try:
                _add(total, _receive(client, store, ctx, obj, day, day, incremental=True))
            except Exception as exc:  # the run fails here; its later assets are skipped, as in Dagster
                if errors is None:
                    raise
                errors.append(f"receive {obj} {day}: {type(exc).__name__}: {exc}")
                break
    return total


def push(client: SalesforceClient, store: PlatformStore, ctx: RunContext,
         checkpoint: Callable[[str], None] | None = None) -> dict[str, int]:
    """The outbox sensor's claim and the push_changes run for it."""
    checkpoint = checkpoint or (lambda _point: None)
    batch = claim_batch(store, limit=CLAIM_LIMIT, now=ctx.platform_clock())
    checkpoint("claimed")
    if batch.empty:
        return {}
    pusher = Pusher(client, store, clock=ctx.platform_clock, checkpoint=checkpoint)
    result = push_changes(client, store, batch=batch, pusher=pusher)
    return {"sent": result.sent, "failed": result.failed, "skipped": result.skipped}


def nightly(client: SalesforceClient, store: PlatformStore, ctx: RunContext,
            checkpoint: Callable[[str], None] | None = None) -> dict[str, int]:
    results = nightly_push(client, store, clock=ctx.platform_clock)
    return {"sent": sum(r.sent for r in results.values()), "failed": sum(r.failed for r in results.values())}


def run_in_process(kind: str, ctx: RunContext, client: SalesforceClient, store: PlatformStore) -> RunOutcome:
    """A run without kills (the quiet phase): errors are kept, not raised."""
    errors: list[str] = []
    try:
        counts = receive_tick(client, store, ctx, errors) if kind == "tick" else \
            push(client, store, ctx) if kind == "push" else nightly(client, store, ctx)
    except Exception as exc:
        return RunOutcome(kind, error=f"{type(exc).__name__}: {exc}")
    return RunOutcome(kind, counts=counts, error="; ".join(errors) or None)


def _child(kind: str, ctx: RunContext, kill: Kill | None, result_path: str) -> None:
    """The child process's body: one run, its outcome written as JSON; never returns (os._exit)."""
    code = 0
    try:
        checkpoint = _Checkpoints(kill)
        client, store = ctx.client(), ctx.store()
        errors: list[str] = []
        if kind == "tick":
            land = store.land_page

            def landed(*args: Any, **kwargs: Any) -> Any:
                path = land(*args, **kwargs)
                checkpoint("landed")
                return path

            store.land_page = landed  # type: ignore[method-assign]
            counts = receive_tick(client, store, ctx, errors)
        elif kind == "push":
            counts = push(client, store, ctx, checkpoint)
        else:
            counts = nightly(client, store, ctx, checkpoint)
        outcome = {"counts": counts, "error": "; ".join(errors) or None}
    except BaseException as exc:  # reported to the parent, which counts it as a failed run
        outcome = {"counts": {}, "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"}
        code = 1
    try:
        Path(result_path).write_text(json.dumps(outcome), encoding="utf-8")
    finally:
        os._exit(code)  # no cleanup of inherited connections: they belong to the parent


def run_in_child(kind: str, ctx: RunContext, kill: Kill | None, work_dir: Path, *,
                 timeout: float = 300.0) -> RunOutcome:
    """Fork a child for one run; SIGKILL it after `kill.seconds` (a timer kill) or let it kill itself."""
    result_path = work_dir / f"run-{os.getpid()}-{id(ctx)}-{datetime.now().timestamp()}.json"
    process = multiprocessing.get_context("fork").Process(target=_child, args=(kind, ctx, kill, str(result_path)))
    process.start()
    wait = kill.seconds if kill is not None and kill.point is None else timeout
    process.join(wait)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        if kill is None or kill.point is not None:
            return RunOutcome(kind, error=f"the run did not end within {timeout:.0f} s and was killed")
    if process.exitcode == -signal.SIGKILL:
        with contextlib.suppress(FileNotFoundError):
            result_path.unlink()
        return RunOutcome(kind, killed=kill)
    try:
        outcome = json.loads(result_path.read_text(encoding="utf-8"))
        result_path.unlink()
    except (FileNotFoundError, ValueError):
        return RunOutcome(kind, error=f"the run ended with exit code {process.exitcode} and no result")
    return RunOutcome(kind, error=outcome["error"], counts=outcome["counts"])
