"""Alerts: failed asset-check evaluations and failed runs, read from the instance's event log, grouped by cause
and posted at most once per cause per hour.

Reading: two cursors, kept in the sensor's cursor: the storage id of the last RUN_FAILURE event read (the
run status events live in the event log's index, so the id is global even on the embedded SQLite instance
whose events are sharded per run), and the id of the last asset-check execution record read (a record is
written when a check is planned and completed in place, so the cursor never moves past a record still being
evaluated). Each event is read once.

Grouping: a failure's *cause* is, for a check, the `cause` its metadata names (crm_sync's checks name
`credentials` when revoked credentials explain them) or else the check's name, with the severity; for a
run, `credentials` when its step failed on a Salesforce login or connection error, else the job and the
error's class. One alert per cause names every asset (and counts the runs) it touched.

Hourly: a cause alerted less than ALERT_WINDOW ago is held in the cursor, not posted; the held failures
are posted together ("still failing") once the window has passed. A post that fails is held the same way
and tried again at the next evaluation: a webhook that is down delays alerts, it never loses them, and
nothing is posted twice. The payload is Slack's incoming-webhook JSON (`text` plus `blocks`), accepted by
Slack and most chat tools; the link points at the latest run in the Dagster UI (CRM_SYNC_UI_URL).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from dagster import AssetCheckKey, DagsterInstance
from dagster._core.event_api import RunStatusChangeRecordsFilter
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

WEBHOOK_ENV = "CRM_SYNC_ALERT_WEBHOOK"
UI_URL_ENV = "CRM_SYNC_UI_URL"
DEFAULT_UI_URL = "http://localhost:3000"
BATCH = 100
ALERT_WINDOW = timedelta(hours=1)
CREDENTIALS_CAUSE = "credentials"
CREDENTIAL_ERRORS = {"SalesforceAuthError", "SalesforceConnectionError", "SalesforceConfigError"}
MAX_LISTED = 50

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """One failed check evaluation or failed run, with the cause it is grouped by."""

    cause: str
    asset: str | None  # "salesforce/Account" for a check; None for a run
    detail: str
    run_id: str
    job: str = ""


@dataclass
class HeldAlert:
    """What is known of one cause since its last alert: the assets and runs it touched, and the latest detail."""

    assets: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    failures: int = 0
    detail: str = ""
    run_id: str = ""

    def add(self, failure: Failure) -> None:
        if failure.asset and failure.asset not in self.assets:
            self.assets.append(failure.asset)
        if failure.asset is None and failure.run_id not in self.runs:
            self.runs = [*self.runs, failure.run_id][-MAX_LISTED:]
        self.failures += 1
        self.detail = self.detail or failure.detail
        self.run_id = failure.run_id


@dataclass(frozen=True)
class Alert:
    """One message: a cause, the assets and runs it touched, and a link to the latest run."""

    cause: str
    title: str
    detail: str
    assets: tuple[str, ...]
    runs: tuple[str, ...]
    failures: int
    run_id: str
    link: str

    def payload(self) -> dict:
        """Slack-compatible webhook JSON."""
        text = f"{self.title}\n{self.detail}\n<{self.link}|Open the run in Dagster>"
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{self.title}*\n{self.detail}"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{self.link}|Run {self.run_id[:8]}>"}]},
            ],
        }


def ui_url(environ: dict[str, str] | None = None) -> str:
    return ((environ or os.environ).get(UI_URL_ENV) or DEFAULT_UI_URL).rstrip("/")


@dataclass
class AlertCursor:
    """How far failures were read, when each cause was last alerted, and what each holds back."""

    checks: int = 0
    runs: int = 0
    sent_at: dict[str, str] = field(default_factory=dict)  # cause -> ISO time of its last alert
    held: dict[str, HeldAlert] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps({"checks": self.checks, "runs": self.runs, "sent_at": self.sent_at,
                           "held": {cause: asdict(h) for cause, h in self.held.items()}}, sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> AlertCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data.get("checks", 0)), int(data.get("runs", 0)), dict(data.get("sent_at", {})),
                   {cause: HeldAlert(**held) for cause, held in data.get("held", {}).items()})


def _check_failure(record: AssetCheckExecutionRecord) -> Failure:
    evaluation = record.event.dagster_event.event_specific_data
    named = evaluation.metadata.get("cause")
    cause = str(named.value) if named is not None else record.key.name
    if evaluation.severity.value != "ERROR":
        cause = f"{cause} ({evaluation.severity.value})"
    return Failure(cause, "/".join(record.key.asset_key.path), evaluation.description or "", record.run_id)


def _settled(instance: DagsterInstance, record: AssetCheckExecutionRecord) -> bool:
    """A record is settled once evaluated, or once its run ended without evaluating it (Skipped)."""
    if record.status != AssetCheckExecutionRecordStatus.PLANNED:
        return True
    run = instance.get_run_by_id(record.run_id)
    return run is None or run.is_finished


def read_check_failures(instance: DagsterInstance, check_keys: Sequence[AssetCheckKey], after: int, *,
                        limit: int = BATCH) -> tuple[list[Failure], int]:
    """Failed evaluations of `check_keys` in execution records after id `after`, and the id read up to."""
    records: list[AssetCheckExecutionRecord] = []
    for key in check_keys:
        records += [r for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=limit)
                    if r.id > after]
    failures: list[Failure] = []
    read_up_to = after
    for record in sorted(records, key=lambda r: r.id):
        if not _settled(instance, record):
            break
        if record.status == AssetCheckExecutionRecordStatus.FAILED and record.event is not None:
            failures.append(_check_failure(record))
        read_up_to = record.id
    return failures, read_up_to


def _error_classes(instance: DagsterInstance, run_id: str) -> list[str]:
    """The class names along the error chain of the run's first failed step (innermost last)."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error = entry.dagster_event.step_failure_data.error
        names = []
        while error is not None:
            names.append(error.cls_name or "")
            error = error.cause
        return names
    return []


def _run_failure(instance: DagsterInstance, record) -> Failure:
    entry = record.event_log_entry
    message = entry.dagster_event.message if entry.dagster_event else entry.user_message
    job = entry.job_name or ""
    classes = _error_classes(instance, record.run_id)
    if CREDENTIAL_ERRORS & set(classes):
        cause = CREDENTIALS_CAUSE
    else:
        cause = f"run {job} failed" + (f" ({classes[-1]})" if classes else "")
    return Failure(cause, None, message or "", record.run_id, job)


def read_run_failures(instance: DagsterInstance, after: int, *, limit: int = BATCH) -> tuple[list[Failure], int]:
    """Failed runs whose RUN_FAILURE event's storage id is after `after`, and the id read up to."""
    records = instance.fetch_run_status_changes(
        RunStatusChangeRecordsFilter(DagsterEventType.RUN_FAILURE, after_storage_id=after),
        limit=limit, ascending=True).records
    return [_run_failure(instance, r) for r in records], max([after, *(r.storage_id for r in records)])


def _alert(cause: str, held: HeldAlert, base_url: str, *, again: bool) -> Alert:
    assets = tuple(sorted(held.assets))
    parts = [f"{len(assets)} asset(s)"] if assets else []
    if held.runs:
        parts.append(f"{len(held.runs)} failed run(s)")
    title = f"crm_sync {'still failing' if again else 'failing'}: {cause} on {', '.join(parts)}"
    lines = [held.detail]
    if assets:
        lines.append("Assets: " + ", ".join(assets[:MAX_LISTED]) + (" ..." if len(assets) > MAX_LISTED else ""))
    if held.runs:
        lines.append("Runs: " + ", ".join(r[:8] for r in held.runs))
    if again:
        lines.append(f"{held.failures} failure(s) since the last alert on this cause (at most one an hour).")
    return Alert(cause, title, "\n".join(lines), assets, tuple(held.runs), held.failures, held.run_id,
                 f"{base_url}/runs/{held.run_id}")


def post_alert(webhook_url: str, alert: Alert, *, timeout: float = 10.0) -> None:
    """POST the alert's JSON to the webhook; raises requests.HTTPError on a non-2xx answer."""
    response = requests.post(webhook_url, json=alert.payload(), timeout=timeout)
    response.raise_for_status()


def deliver_alerts(instance: DagsterInstance, check_keys: Sequence[AssetCheckKey], cursor: AlertCursor, *,
                   webhook_url: str | None = None, log_fn: Callable[[str], None] | None = None,
                   base_url: str | None = None, now: datetime | None = None) -> tuple[list[Alert], AlertCursor]:
    """Read new failures, group them by cause, and post (or log, without a webhook) one alert per cause whose
    hour has passed; return the alerts delivered and the new cursor (which holds the rest)."""
    webhook_url = webhook_url if webhook_url is not None else os.environ.get(WEBHOOK_ENV) or None
    base_url = base_url or ui_url()
    log_fn = log_fn or log.warning
    now = now or datetime.now(UTC)
    check_failures, checks_read = read_check_failures(instance, check_keys, cursor.checks)
    run_failures, runs_read = read_run_failures(instance, cursor.runs)
    held = {cause: HeldAlert(**asdict(h)) for cause, h in cursor.held.items()}
    for failure in [*check_failures, *run_failures]:
        held.setdefault(failure.cause, HeldAlert()).add(failure)
    sent_at = {cause: at for cause, at in cursor.sent_at.items()
               if now - datetime.fromisoformat(at) < ALERT_WINDOW or cause in held}
    delivered: list[Alert] = []
    for cause in sorted(held):
        last = sent_at.get(cause)
        if last is not None and now - datetime.fromisoformat(last) < ALERT_WINDOW:
            continue  # alerted within the hour: held for later
        alert = _alert(cause, held[cause], base_url, again=last is not None)
        if webhook_url:
            try:
                post_alert(webhook_url, alert)
            except requests.RequestException as exc:
                log_fn(f"could not post the alert on {cause!r} to the webhook ({exc}); trying again next time")
                continue
        else:
            log_fn(f"{alert.title}: {alert.detail} ({alert.link})")
        delivered.append(alert)
        sent_at[cause] = now.isoformat()
        del held[cause]
    return delivered, AlertCursor(checks_read, runs_read, sent_at, held)
