"""The push: platform records to Salesforce, with a result per record.

One push works section by section in sync order (companies before end users):
1. claim: whole records, with a fencing version (platform/claims.py); a record another live push holds is
   left to it (its outbox rows are given back). The leases are renewed while the push runs;
2. what to send: every sent field whose current value differs from the last-agreed base, whoever wrote it
   (an outbox row says *when* to push, never *what*); a record not in Salesforce yet sends every value;
3. rules (rules.py) and, for records not yet in Salesforce, matching by email (matching.py);
4. for updates, the conflict check per field against the base (conflicts.py: one composite read per
   1,000 records);
5. the record's current values are read again, right before the write: sObject Collections in chunks of
   `push_chunk_size` (200, allOrNone=false; two collections and their read-backs per /composite call,
   `push_requests_in_flight` calls at a time), or one Bulk API 2.0 ingest job above `push_bulk_threshold`;
6. the acknowledgement per record (platform/push_state.py): the base of each sent field becomes the value
   sent, the Salesforce Id and `sync_status = ok` are stored, and (only while the claim's fence holds) the
   claim and its outbox rows are removed. A failure keeps Salesforce's statusCode, message and fields,
   counts the attempt and backs off (a dead letter after `max_attempts`); a rule keeps the record out with
   `sync_status = skipped:<reason>`.

Creating is idempotent for every object. With an external Id field (External_Id__c on Account and
Contact) a create is an UPSERT by the record's key: the platform's own value, else the stable key
`crm_sync:<model>:<platform id>`, stored on the platform row before the write (ids are never reused).
Every create is recorded as pending (with its time and values) before it is written; a create whose
outcome is unknown (the run died, or the answer was lost: the transport never re-sends a create) is
looked up in Salesforce before it is tried again (creates.py), and a receive that meets the record links
it. (Several platform databases writing to one org must use different key namespaces:
`$CRM_SYNC_KEY_NAMESPACE`, default `crm_sync`.) Errors of the request as a whole (5xx after the client's
retries, an expired session that cannot be renewed, the API limit) become per-record failures of that
chunk: retried later, never lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm_sync.platform import PlatformStore, push_state
from crm_sync.platform.claims import Claim
from crm_sync.platform.types import utc_now
from crm_sync.platform.values import parse_datetime, payload
from crm_sync.salesforce import OutcomeUnknown, RecordResult, SalesforceError, arrowconv, bulk, soql
from crm_sync.salesforce.client import READ_BACK_COLLECTIONS_PER_CALL, SalesforceClient
from crm_sync.settings import Section
from crm_sync.sync.send import conflicts, creates, rules
from crm_sync.sync.send.in_flight import bounded_map
from crm_sync.sync.send.matching import match_by_email
from crm_sync.sync.send.outbox_batches import Batch, PendingChange, chunked, claim_batch, group_by_model

log = logging.getLogger(__name__)

# Read back in the same composite call as a collections write: our write's modstamp, and who made it.
READ_BACK = ("LastModifiedDate", "LastModifiedById")
CONFLICT_EVENT = "field_overwritten"  # the sync log event of a value overwritten by a conflict rule
KEY_NAMESPACE_ENV = "CRM_SYNC_KEY_NAMESPACE"
ROWS_PER_SELECT = 500
BUSY_RETRY_SECONDS = 5  # outbox rows of a record another push holds are due again after this
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"  # a write that may have reached Salesforce without an answer
MAX_REPORTED_ERRORS = 20


@dataclass
class PushItem:
    """One record to write: its row, the columns to send and (for outbox pushes) its outbox rows."""

    row: dict[str, Any]
    columns: list[str]
    entry_ids: list[int] = field(default_factory=list)
    changed_at: datetime | None = None
    target_id: str | None = None  # the Salesforce Id written to (the row's, or a matched record's)
    key: str | None = None  # the external Id value of an upsert
    body: dict[str, Any] = field(default_factory=dict)
    last_modified: datetime | None = None  # Salesforce's LastModifiedDate of our write, when read back
    claim: Claim | None = None
    agreed: dict[str, Any] = field(default_factory=dict)  # values both sides already hold
    sent: dict[str, Any] = field(default_factory=dict)  # column -> the value written
    forced: bool = False  # the platform's values override Salesforce's (no conflict check)
    seen_modstamp: datetime | None = None  # Salesforce's latest modstamp read by the conflict check
    column_times: dict[str, datetime] = field(default_factory=dict)  # a user edit's time, per column

    def changed_at_of(self, column: str) -> datetime | None:
        """When the platform last changed `column`: its outbox row, else the last system write, else the
        record's newest change."""
        return (self.column_times.get(column) or self.row.get("system_changed_at") or self.changed_at
                or self.row.get("updated_at"))

    @property
    def record_id(self) -> int:
        return self.row["id"]


@dataclass
class PushResult:
    """What one push did."""

    sent: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    matched: int = 0
    overwritten: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    apis: set[str] = field(default_factory=set)
    skip_reasons: Counter = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage: claim, check, write, ack

    def add(self, other: PushResult) -> None:
        """Sum another push's result into this one (a run that pushes several batches)."""
        for name in ("sent", "created", "updated", "unchanged", "failed", "dead", "skipped", "matched",
                     "overwritten", "api_calls", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.apis |= other.apis
        self.skip_reasons.update(other.skip_reasons)
        self.errors += other.errors[:max(0, MAX_REPORTED_ERRORS - len(self.errors))]
        for stage, seconds in other.stages.items():
            self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    def metadata(self) -> dict[str, Any]:
        """Facts for Dagster metadata and the sync log."""
        return {"records_sent": self.sent, "records_created": self.created, "records_updated": self.updated,
                "records_unchanged": self.unchanged, "records_failed": self.failed, "dead_letters": self.dead,
                "records_skipped": self.skipped, "records_matched": self.matched,
                "fields_overwritten": self.overwritten, "api_calls": self.api_calls,
                "seconds": round(self.seconds, 3), "api": ",".join(sorted(self.apis)) or "none",
                "skip_reasons": dict(self.skip_reasons), "errors": self.errors,
                "stage_seconds": {stage: round(seconds, 3) for stage, seconds in self.stages.items()}}


class _Ack:
    """Acknowledges a push: successes move the base and end the claim; failures are counted and retried.

    `outbox_token` is set for pushes of claimed outbox rows (their rows are removed on success, get
    attempts + 1 and a backoff on failure); other pushes (nightly, push one model) record failures on the
    record's sync status only.
    """

    def __init__(self, store: PlatformStore, outbox_token: str | None, now: Callable[[], datetime]) -> None:
        self.store, self.outbox_token, self.now = store, outbox_token, now

    def done(self, items: Sequence[PushItem]) -> None:
        """Nothing left to send for these records (removed, skipped by a rule): their rows are done."""
        if self.outbox_token is not None:
            ids = [i for item in items for i in item.entry_ids]
            for chunk in chunked(ids, ROWS_PER_SELECT):
                self.store.complete_outbox(list(chunk), self.outbox_token)

    def succeeded(self, section: Section, item: PushItem) -> bool:
        """Store an accepted write; False when the record is linked to another platform row already."""
        try:
            self.store.acknowledge_push(section, item.claim, salesforce_id=item.target_id,
                                        sent={**item.agreed, **item.sent}, sent_modstamp=item.last_modified,
                                        outbox_ids=item.entry_ids, outbox_token=self.outbox_token)
            return True
        except sa.exc.IntegrityError:  # another platform row already holds this Salesforce Id
            self.store.set_sync_status(section, item.record_id, "error", {
                "statusCode": "DUPLICATE_PLATFORM_RECORD",
                "message": f"another {section.model} record is linked to {item.target_id}", "fields": []})
            self.done([item])
            self.store.release_claim(section, item.claim, create_known=True)
            return False

    def succeeded_all(self, section: Section, items: Sequence[PushItem]) -> int:
        """`succeeded` for many records, ROWS_PER_SELECT per transaction; how many were stored. A chunk
        holding a Salesforce Id another row is linked to goes again one record at a time."""
        stored = 0
        for chunk in chunked(items, ROWS_PER_SELECT):
            if any(item.claim is None for item in chunk):
                raise ValueError("a push acknowledges only records it has claimed")
            accepted = [push_state.Accepted(item.claim, item.target_id, {**item.agreed, **item.sent},
                                            item.last_modified, item.entry_ids) for item in chunk]
            try:
                stored += len(self.store.acknowledge_pushes(section, accepted, outbox_token=self.outbox_token))
            except sa.exc.IntegrityError:
                stored += sum(1 for item in chunk if self.succeeded(section, item))
        return stored

    def failed(self, section: Section, item: PushItem, error: dict[str, Any], *, outcome_unknown: bool) -> bool:
        """Record a failed attempt; True when the record's change is now a dead letter."""
        if item.claim is not None:
            self.store.release_claim(section, item.claim, create_known=not outcome_unknown)
        if self.outbox_token is None:
            self.store.set_sync_status(section, item.record_id, "error", error)
            return False
        dead = False
        for entry_id in item.entry_ids:
            try:
                dead = self.store.fail_outbox(entry_id, self.outbox_token, error, now=self.now()) or dead
            except KeyError:  # the lease ran out and another run holds the row now
                log.warning("outbox row %s is no longer claimed by this run", entry_id)
        return dead


@contextlib.contextmanager
def _stage(result: PushResult, name: str) -> Iterator[None]:
    """Adds the seconds the block takes to `result.stages[name]`."""
    started = time.monotonic()
    try:
        yield
    finally:
        result.stages[name] = result.stages.get(name, 0.0) + time.monotonic() - started


class _KeepAlive:
    """Renews a push's leases (record claims and outbox rows) every third of the lease while it runs."""

    def __init__(self, store: PlatformStore, token: str) -> None:
        self.store, self.token = store, token
        self.interval = max(1.0, store.settings.defaults.claim_lease_seconds / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"push-lease-{token[:8]}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.store.renew_claims(self.token)
            except Exception:  # a missed renewal costs only the lease, never the push
                log.warning("could not renew the push's leases", exc_info=True)

    def __enter__(self) -> _KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Pusher:
    """Pushes platform records of one store to one Salesforce org."""

    def __init__(self, client: SalesforceClient, store: PlatformStore, *, run_id: str | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 checkpoint: Callable[[str], None] | None = None, key_namespace: str | None = None) -> None:
        self.client = client
        self.key_namespace = key_namespace or os.environ.get(KEY_NAMESPACE_ENV) or "crm_sync"
        self.store = store
        self.defaults = store.settings.defaults
        self.run_id = run_id
        self.clock = clock
        self.checkpoint = checkpoint or (lambda _stage: None)

    # -- entry points --------------------------------------------------------------------------------
    def push_batch(self, batch: Batch) -> PushResult:
        """Push the records of claimed outbox rows: every field each record changed since its base."""
        started, calls = time.monotonic(), self.client.api_calls.total
        result = PushResult()
        ack = _Ack(self.store, batch.claim_token, self.clock)
        grouped = group_by_model(batch.changes())
        with _KeepAlive(self.store, batch.claim_token):
            try:
                for section in self._sending_sections(grouped):
                    changes = {c.record_id: c for c in grouped.pop(section.model)}
                    with _stage(result, "claim"):
                        held = self._claim(section, list(changes), batch.claim_token)
                        busy = [c for record_id, c in changes.items() if record_id not in held]
                        self.store.release_outbox([i for c in busy for i in c.entry_ids], batch.claim_token,
                                                  retry_at=self.clock() + timedelta(seconds=BUSY_RETRY_SECONDS))
                        rows = load_rows(self.store, section, list(held))
                        times = self.store.outbox_column_times(section, list(held))
                    items, missing = [], []
                    send_columns = [f.column for f in section.send_fields()]
                    for record_id, claim in held.items():
                        change = changes[record_id]
                        row = rows.get(record_id)
                        item = PushItem(row or {"id": record_id}, [], list(change.entry_ids), change.changed_at,
                                        claim=claim, column_times={**change.column_times, **times.get(record_id, {})})
                        if row is None:
                            missing.append(item)
                            continue
                        item.columns = push_state.pending_columns(section, row, send_columns)
                        items.append(item)
                    self._done_without_write(section, missing, ack)  # the app removed the record
                    self._push_section_alone(section, items, ack, result)
                for model, changes in grouped.items():  # a model that no longer sends: its rows are done
                    log.warning("outbox rows of %s dropped: the model does not send", model)
                    ack.done([PushItem({"id": c.record_id}, [], c.entry_ids) for c in changes])
            finally:
                self.store.release_claims(batch.claim_token)
        return self._finish(result, started, calls)

    def push_rows(self, section: Section, rows: Iterable[dict[str, Any]], *, every_column: bool = False
                  ) -> PushResult:
        """Push whole records: the fields they changed since their base (the nightly push), or with
        `every_column` every send field, the platform's values overriding Salesforce's (a push of one
        model by hand: no conflict check)."""
        started, calls = time.monotonic(), self.client.api_calls.total
        result = PushResult()
        token = uuid.uuid4().hex
        with _KeepAlive(self.store, token):
            try:
                wanted = [row["id"] for row in rows]
                held = self._claim(section, wanted, token)
                busy = [record_id for record_id in wanted if record_id not in held]
                if busy:  # another push holds them (or a dead one, until its lease ends): the outbox follows up
                    self.store.wake_records(section, busy)
                fresh = load_rows(self.store, section, list(held))
                items = []
                for record_id, claim in held.items():
                    row = fresh.get(record_id)
                    if row is None:
                        continue
                    columns = push_state.pending_columns(section, row)
                    if every_column and row.get("salesforce_id"):
                        columns = [f.column for f in section.send_fields()]
                    items.append(PushItem(row, columns, changed_at=row.get("updated_at"), claim=claim,
                                          forced=every_column))
                self._push_section_alone(section, items, _Ack(self.store, None, self.clock), result)
            finally:
                self.store.release_claims(token)
        return self._finish(result, started, calls)

    def _claim(self, section: Section, record_ids: list[int], token: str) -> dict[int, Claim]:
        held: dict[int, Claim] = {}
        for chunk in chunked(sorted(set(record_ids)), ROWS_PER_SELECT):
            held.update(self.store.claim_records(section, list(chunk), token, now=self.clock()))
        return held

    def _finish(self, result: PushResult, started: float, calls: int) -> PushResult:
        result.api_calls = self.client.api_calls.total - calls
        result.seconds = time.monotonic() - started
        return result

    def _sending_sections(self, grouped: dict[str, list[PendingChange]]) -> list[Section]:
        return [s for s in self.store.settings.in_order() if s.sends and s.model in grouped]

    def _done_without_write(self, section: Section, items: Sequence[PushItem], ack: _Ack) -> None:
        ack.done(items)
        for item in items:
            if item.claim is not None:
                self.store.release_claim(section, item.claim, create_known=False)

    # -- one section -------------------------------------------------------------------------------
    def _push_section_alone(self, section: Section, items: list[PushItem], ack: _Ack, result: PushResult) -> None:
        """Push one section; an unexpected error fails its records' attempt (counted, retried, shown) and
        never stops the sections after it."""
        try:
            self._push_section(section, items, ack, result)
        except Exception as exc:
            log.exception("push of %s failed", section.object)
            error = {"statusCode": "PUSH_FAILED", "message": f"{type(exc).__name__}: {exc}", "fields": []}
            self.store.log_event("sync_failed", section=section, run_id=self.run_id,
                                 details={"push": "section", "error": error["message"]})
            for item in items:
                result.failed += 1
                with contextlib.suppress(Exception):
                    if ack.failed(section, item, error, outcome_unknown=True):
                        result.dead += 1

    def _push_section(self, section: Section, items: list[PushItem], ack: _Ack, result: PushResult) -> None:
        if not items:
            return
        with _stage(result, "check"):
            checked = self._ready(section, items, ack, result)
        if checked is None:
            return
        ready, describe = checked
        nothing_to_send = [i for i in ready if i.target_id and not i.columns]
        if nothing_to_send:
            with _stage(result, "ack"):
                self._succeeded(section, nothing_to_send, ack, result, unchanged=True)
        self._write(section, [i for i in ready if not (i.target_id and not i.columns)], describe, ack, result)

    def _ready(self, section: Section, items: list[PushItem], ack: _Ack, result: PushResult
               ) -> tuple[list[PushItem], dict] | None:
        """Rules, lost creates, matching, the conflict check and the re-read: the records to write (and
        the object's describe); None when the describe failed (every record failed this attempt)."""
        try:
            describe = self.client.describe(section.object)
        except SalesforceError as exc:  # a whole-request failure is every record's, never the run's
            self._fail_all(section, items, exc, ack, result)
            return None
        required = rules.required_on_create(describe)
        by_field = {f.salesforce.lower(): f for f in section.send_fields()}
        duplicates = rules.duplicate_emails(self.store, section, [i.row for i in items])
        ready: list[PushItem] = []
        for item in items:
            skip = rules.check_record(section, item.row, creating=not item.row.get("salesforce_id"),
                                      required_fields=required, send_fields_by_name=by_field)
            if skip is None and item.record_id in duplicates:
                skip = rules.Skip("duplicate_email", "another platform record has this email")
            if skip is not None:
                self._skip(section, item, skip, ack, result)
            else:
                item.target_id = item.row.get("salesforce_id")
                ready.append(item)
        ready = self._find_lost_creates(section, ready, describe, ack, result)
        ready = self._match(section, ready, ack, result)
        ready = self._resolve_conflicts(section, ready, ack, result)
        return self._reread(section, ready), describe

    def _skip(self, section: Section, item: PushItem, skip: rules.Skip, ack: _Ack, result: PushResult) -> None:
        result.skipped += 1
        result.skip_reasons[skip.reason] += 1
        self._done_without_write(section, [item], ack)
        if item.row.get("sync_status") != skip.status or item.entry_ids:
            self.store.set_sync_status(section, item.record_id, skip.status, skip.error())

    def _find_lost_creates(self, section: Section, items: list[PushItem], describe: dict | None, ack: _Ack,
                           result: PushResult) -> list[PushItem]:
        """Records whose earlier create may have reached Salesforce: found there, they become updates."""
        new = [i for i in items if not i.target_id]
        if not new or external_id_field(section, describe) is not None:
            return items  # an upsert by key finds the record by itself
        pending = self.store.pending_creates(section, [i.record_id for i in new])
        if not pending:
            return items
        taken: set[str] = set(self.store.linked_ids(section))
        failed: set[int] = set()
        for item in new:
            create = pending.get(item.record_id)
            if create is None:
                continue
            try:
                found = creates.find_created(self.client, section, create, taken)
            except SalesforceError as exc:
                self._fail_all(section, [item], exc, ack, result)
                failed.add(item.record_id)
                continue
            if found is None:
                continue
            taken.add(found)
            self.store.link_created(section, item.record_id, found)
            item.row["salesforce_id"] = item.target_id = found
            log.info("%s %s: a create whose answer was lost had made %s; linked", section.model,
                     item.record_id, found)
        return [i for i in items if i.record_id not in failed]

    def _match(self, section: Section, items: list[PushItem], ack: _Ack, result: PushResult) -> list[PushItem]:
        """Records not in Salesforce yet, matched by email to an existing record before anything is created."""
        if section.match_on != rules.EMAIL_COLUMN or section.field_for_column(rules.EMAIL_COLUMN) is None:
            return items
        new = [i for i in items if not i.target_id and i.row.get(rules.EMAIL_COLUMN)]
        if not new:
            return items
        try:
            matches = match_by_email(self.client, [i.row[rules.EMAIL_COLUMN] for i in new])
        except SalesforceError as exc:
            self._fail_all(section, new, exc, ack, result)
            failed = {i.record_id for i in new}
            return [i for i in items if i.record_id not in failed]
        kept = []
        for item in items:
            match = None if item.target_id else matches.get((item.row.get(rules.EMAIL_COLUMN) or "").strip().lower())
            if match is None:
                kept.append(item)
            elif match.object.lower() == section.object.lower():
                item.target_id = match.id
                result.matched += 1
                kept.append(item)
            else:
                self._skip(section, item, rules.Skip(
                    f"matched_{match.object.lower()}",
                    f"an existing {match.object} ({match.id}) has this email; no {section.object} is created"),
                    ack, result)
        return kept

    def _resolve_conflicts(self, section: Section, items: list[PushItem], ack: _Ack,
                           result: PushResult) -> list[PushItem]:
        """Per field, against the base: what only the platform changed is sent, what both changed is ruled."""
        to_check = [i for i in items if i.row.get("salesforce_id") and i.columns and not i.forced]
        if not to_check:
            return items
        fields = sorted({section.field_for_column(c).salesforce for i in to_check for c in i.columns})
        try:
            current = conflicts.read_current(self.client, section.object, [i.target_id for i in to_check], fields)
        except SalesforceError as exc:
            self._fail_all(section, to_check, exc, ack, result)
            failed = {i.record_id for i in to_check}
            return [i for i in items if i.record_id not in failed]
        unacknowledged = self.store.pending_writes(section, [i.record_id for i in to_check])
        for item in to_check:
            record = current.get(item.target_id)
            item.seen_modstamp = conflicts.latest_modstamp(record)
            decision = conflicts.decide(section, item.row, item.columns, record,
                                        {c: item.changed_at_of(c) for c in item.columns},
                                        unacknowledged.get(item.record_id))
            item.columns = decision.send
            item.agreed = decision.agreed
            if decision.take:
                self.store.take_salesforce_values(section, item.record_id, decision.take)
            for overwrite in decision.overwrites:
                result.overwritten += 1
                self.store.log_event(CONFLICT_EVENT, section=section, run_id=self.run_id,
                                     details=overwrite.details())
        return items

    def _reread(self, section: Section, items: list[PushItem]) -> list[PushItem]:
        """The records' current values, read right before the write (an edit made meanwhile goes out now)."""
        fresh = load_rows(self.store, section, [i.record_id for i in items])
        kept = []
        for item in items:
            row = fresh.get(item.record_id)
            if row is None:
                continue
            item.row = {**row, "salesforce_id": row.get("salesforce_id") or item.row.get("salesforce_id")}
            kept.append(item)
        return kept

    # -- writing -----------------------------------------------------------------------------------
    def _write(self, section: Section, items: list[PushItem], describe: dict | None, ack: _Ack,
               result: PushResult) -> None:
        """Write, and acknowledge each call's records as its answer comes (while later calls are in flight)."""
        if not items:
            return
        answers = self._write_all(section, items, describe, result)
        sent = 0
        try:
            while True:
                with _stage(result, "write"):
                    outcomes = next(answers, None)
                if outcomes is None:
                    break
                self.checkpoint("written")
                with _stage(result, "ack"):
                    sent += self._acknowledge(section, outcomes, ack, result, log_sent=False)
        finally:
            answers.close()  # on an error: no further call starts
        if sent:
            self.store.log_event("records_sent", section=section, run_id=self.run_id, count=sent)

    def _write_all(self, section: Section, items: list[PushItem], describe: dict | None,
                   result: PushResult) -> Iterator[list[tuple[PushItem, RecordResult]]]:
        """The writes' outcomes, one list per answer (a collections call, an ingest job)."""
        key_field = external_id_field(section, describe)
        creates_, updates = [], []
        new_keys: dict[int, str] = {}
        for item in items:
            if item.target_id:
                item.body = {"Id": item.target_id, **payload(section, item.row, item.columns)}
                updates.append(item)
                continue
            if key_field is not None:
                column, name = key_field
                item.key = item.row.get(column) or f"{self.key_namespace}:{section.model}:{item.record_id}"
                if item.row.get(column) is None:
                    new_keys[item.record_id] = item.key
                    item.row[column] = item.key
                if column not in item.columns:
                    item.columns.append(column)
            item.body = payload(section, item.row, item.columns)
            if key_field is not None:
                item.body[key_field[1]] = item.key
            creates_.append(item)
        # before any write: the keys on the rows, and every create recorded on its claim until acknowledged
        # (set-based); an update is recorded right before the call that carries it (`_start_updates`), so a
        # run that dies leaves kept values only for what it may really have written
        if new_keys and key_field is not None:
            self.store.store_keys(section, key_field[0], new_keys)
        if creates_:
            self.store.start_pending(creates=[(i.claim, i.key, i.body) for i in creates_ if i.claim is not None],
                                     updates=[], at=utc_now())
        for item in items:
            item.sent = {c: item.row.get(c) for c in item.columns}
        use_bulk = len(items) > self.defaults.push_bulk_threshold
        result.apis.add("bulk" if use_bulk else "rest")
        create_op = "upsert" if key_field else "create"
        for operation, group in ((create_op, creates_), ("update", updates)):
            if not group:
                continue
            ext = key_field[1] if operation == "upsert" else None
            by_rest = [i for i in group if not use_bulk or not bulk.csv_can_carry(i.body)]
            by_bulk = [i for i in group if use_bulk and bulk.csv_can_carry(i.body)]
            if by_bulk:
                yield self._write_bulk(section, operation, by_bulk, ext)
            if by_rest:
                yield from self._write_collections(section, operation, by_rest, ext)

    def _write_collections(self, section: Section, operation: str, items: list[PushItem],
                           ext: str | None) -> Iterator[list[tuple[PushItem, RecordResult]]]:
        """One list of outcomes per call, in order; `push_requests_in_flight` calls at a time."""
        per_call = READ_BACK_COLLECTIONS_PER_CALL if operation in ("update", "upsert") else 1

        def send(chunk: Sequence[PushItem]) -> list[RecordResult]:
            self._start_updates(operation, chunk)
            try:
                return self.client.collections_write(operation, section.object, [i.body for i in chunk],
                                                     external_id_field=ext, read_back=READ_BACK,
                                                     collections_per_call=per_call,
                                                     collection_size=self.defaults.push_chunk_size)
            except SalesforceError as exc:
                return [_request_failure(exc)] * len(chunk)

        # one call each: `per_call` collections of push_chunk_size records (with their read-backs)
        chunks = list(chunked(items, self.defaults.push_chunk_size * per_call))
        answers = bounded_map(send, chunks, self.defaults.push_requests_in_flight, name=f"push-{section.model}")
        try:
            for chunk, results in zip(chunks, answers, strict=True):
                yield list(zip(chunk, results, strict=True))
        finally:
            answers.close()  # calls not started are cancelled; running ones finish

    def _start_updates(self, operation: str, items: Sequence[PushItem]) -> None:
        """Keep the values of the updates one call is about to write on their claims until acknowledged."""
        if operation == "update":
            self.store.start_pending(creates=[], updates=[(i.claim, i.body, i.seen_modstamp) for i in items
                                                          if i.claim is not None], at=utc_now())

    def _write_bulk(self, section: Section, operation: str, items: list[PushItem],
                    ext: str | None) -> list[tuple[PushItem, RecordResult]]:
        started = datetime.now(UTC) - timedelta(seconds=1)
        self._start_updates(operation, items)
        try:
            results = self.client.bulk_ingest(operation, section.object, [i.body for i in items],
                                              external_id_field=ext)
        except SalesforceError as exc:
            return [(item, _request_failure(exc)) for item in items]
        results = self._read_back_after_ingest(section, results, started)
        by_key = {(i.key if operation == "upsert" else i.target_id): i for i in items}
        outcomes, answered = [], set()
        for record_result in results:
            echoed = record_result.input or {}
            key = echoed.get(ext) if operation == "upsert" else echoed.get("Id")
            item = by_key.get(key)
            if item is not None:
                outcomes.append((item, record_result))
                answered.add(item.record_id)
        missing = RecordResult(id=None, success=False, errors=[{
            "statusCode": OUTCOME_UNKNOWN, "message": "the ingest job returned no result for this record",
            "fields": []}])
        outcomes += [(i, missing) for i in items if i.record_id not in answered]
        return outcomes

    def _read_back_after_ingest(self, section: Section, results: list[RecordResult],
                                started: datetime) -> list[RecordResult]:
        """Our own modstamps for an ingest job's records: one Bulk query of what we modified since it began.

        A failure here costs nothing but the modstamps (the echo brings them), never the push.
        """
        if not any(r.success for r in results) or not self.client.user_id:
            return results
        query = soql.select(section.object, ["Id", *READ_BACK], [
            f"LastModifiedById = {soql.quote(self.client.user_id)}",
            f"LastModifiedDate >= {soql.datetime_literal(started)}"])
        written = sum(1 for r in results if r.success)  # spaces the polls; one results page for all of them
        try:
            rows = {}
            for page in self.client.bulk_query(query, expected_records=written,
                                               max_records=max(written, self.defaults.bulk_page_records)):
                # by column: Table.to_pylist builds a dict per row of every column
                ids = arrowconv.to_python(page.column("Id"))
                read = [arrowconv.to_python(page.column(f)) if f in page.column_names else [None] * len(ids)
                        for f in READ_BACK]
                for record_id, *values in zip(ids, *read, strict=True):
                    rows[record_id] = dict(zip(READ_BACK, values, strict=True))
        except SalesforceError:
            log.warning("could not read back the modstamps of an ingest job on %s", section.object, exc_info=True)
            return results
        return [_with_read_back(r, {f: rows[r.id].get(f) for f in READ_BACK})
                if r.success and r.id in rows else r for r in results]

    def _acknowledge(self, section: Section, outcomes: list[tuple[PushItem, RecordResult]], ack: _Ack,
                     result: PushResult, *, log_sent: bool = True) -> int:
        """Store the outcomes; how many successes were acknowledged."""
        succeeded = []
        for item, record_result in outcomes:
            if record_result.success:
                item.target_id = record_result.id or item.target_id
                item.last_modified = self._own_modstamp(record_result)
                if record_result.created:
                    result.created += 1
                else:
                    result.updated += 1
                succeeded.append(item)
                continue
            error = record_result.errors[0] if record_result.errors else {
                "statusCode": "UNKNOWN", "message": "Salesforce gave no reason", "fields": []}
            error = {"statusCode": error.get("statusCode", "UNKNOWN"), "message": error.get("message", ""),
                     "fields": list(error.get("fields") or [])}
            result.failed += 1
            unknown = error["statusCode"] in (OUTCOME_UNKNOWN, "OutcomeUnknown")
            if ack.failed(section, item, error, outcome_unknown=unknown):
                result.dead += 1
            if len(result.errors) < MAX_REPORTED_ERRORS:
                result.errors.append({"record_id": item.record_id, **error})
            self.store.log_event("record_failed", section=section, run_id=self.run_id,
                                 details={"record_id": item.record_id, **error})
        return self._succeeded(section, succeeded, ack, result, log_sent=log_sent)

    def _fail_all(self, section: Section, items: list[PushItem], exc: SalesforceError, ack: _Ack,
                  result: PushResult) -> None:
        """Every record of `items` fails this attempt with the request's error (retried with backoff)."""
        self._acknowledge(section, [(item, _request_failure(exc)) for item in items], ack, result)

    def _own_modstamp(self, record_result: RecordResult) -> datetime | None:
        """LastModifiedDate read back with the write, kept only when the last change is still our own.

        It goes to `sf_sent_modstamp`, never to the receive side's `sf_last_modified`: the echo of our write
        must still count as newer, or Salesforce-computed fields (Name, formulas) of that version would
        never arrive. A version modified by anyone else in between is not ours to record.
        """
        values = record_result.read_back or {}
        if not values.get("LastModifiedDate") or values.get("LastModifiedById") != self.client.user_id:
            return None
        stamp = values["LastModifiedDate"]  # text from REST, a datetime from a Bulk (Arrow) read-back
        return stamp if isinstance(stamp, datetime) else parse_datetime(stamp)

    def _succeeded(self, section: Section, items: list[PushItem], ack: _Ack, result: PushResult, *,
                   unchanged: bool = False, log_sent: bool = True) -> int:
        if not items:
            return 0
        acknowledged = ack.succeeded_all(section, items)
        if unchanged:
            result.unchanged += acknowledged
        else:
            result.sent += acknowledged
        if log_sent:
            self.store.log_event("records_sent", section=section, run_id=self.run_id, count=acknowledged)
        return acknowledged


def _with_read_back(result: RecordResult, read_back: dict[str, Any]) -> RecordResult:
    """`dataclasses.replace(result, read_back=read_back)`, without its per-call introspection."""
    return RecordResult(id=result.id, success=result.success, created=result.created, errors=result.errors,
                        input=result.input, read_back=read_back)


def _request_failure(exc: SalesforceError) -> RecordResult:
    code = OUTCOME_UNKNOWN if isinstance(exc, OutcomeUnknown) else getattr(exc, "error_code", None) or type(exc).__name__
    return RecordResult(id=None, success=False, errors=[{"statusCode": code, "message": str(exc), "fields": []}])


def external_id_field(section: Section, describe: dict | None) -> tuple[str, str] | None:
    """(column, Salesforce field) of the section's send field that is an external Id in Salesforce."""
    external = {f["name"].lower() for f in (describe or {}).get("fields", []) if f.get("externalId")}
    for mapping in section.send_fields():
        if mapping.salesforce.lower() in external:
            return mapping.column, mapping.salesforce
    return None


def load_rows(store: PlatformStore, section: Section, record_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Platform rows by id (500 per SELECT), each a dict of column -> value."""
    table = store.table(section)
    rows: dict[int, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for chunk in chunked(sorted(set(record_ids)), ROWS_PER_SELECT):
            result = conn.execute(sa.select(table).where(table.c.id.in_(list(chunk))))
            keys = list(result.keys())  # once per SELECT: dict(row._mapping) builds them for every row
            for row in result:
                record = dict(zip(keys, row, strict=True))
                rows[record["id"]] = record
    return rows


def push_changes(client: SalesforceClient, store: PlatformStore, *, batch: Batch | None = None,
                 limit: int | None = None, run_id: str | None = None, now: datetime | None = None,
                 pusher: Pusher | None = None) -> PushResult:
    """Push a claimed batch (or claim one now, up to `limit` rows) and log the run."""
    batch = batch if batch is not None else claim_batch(store, limit=limit, now=now)
    if batch.empty:
        return PushResult()
    pusher = pusher or Pusher(client, store, run_id=run_id, clock=(lambda: now) if now is not None else utc_now)
    store.log_event("sync_started", run_id=run_id, count=len(batch.entries), details={"push": "changes"})
    try:
        result = pusher.push_batch(batch)
    except Exception as exc:
        store.log_event("sync_failed", run_id=run_id, details={"push": "changes", "error": f"{type(exc).__name__}: {exc}"})
        raise
    store.log_event("sync_completed", run_id=run_id, count=result.sent,
                    details={"push": "changes", **result.metadata()})
    return result
