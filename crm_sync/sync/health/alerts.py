"""Alerts: failed asset-check evaluations and failed runs, read from the instance's event log and posted once.

Two cursors, kept together as the sensor's cursor: the storage id of the last RUN_FAILURE event handled
(the run status events live in the event log's index, so the id is global even on the embedded SQLite
instance whose events are sharded per run), and the id of the last asset-check execution record handled
(a record is written when a check is planned and completed in place, so the cursor never moves past a
record still being evaluated). Each event is read once, and a cursor only moves past an alert once it
was delivered (or logged, when no webhook is set): a webhook that is down delays alerts, it does not
lose or repeat them. The payload is Slack's incoming-webhook JSON (`text` plus `blocks`), accepted by
Slack and most chat tools; the link points at the run in the Dagster UI (CRM_SYNC_UI_URL).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests
from dagster import AssetCheckKey, DagsterInstance
from dagster._core.event_api import EventLogRecord, RunStatusChangeRecordsFilter
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

WEBHOOK_ENV = "CRM_SYNC_ALERT_WEBHOOK"
UI_URL_ENV = "CRM_SYNC_UI_URL"
DEFAULT_UI_URL = "http://localhost:3000"
BATCH = 100

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One thing to tell: a failed check evaluation or a failed run."""

    storage_id: int
    kind: str  # check_failed | run_failed
    title: str
    detail: str
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


@dataclass(frozen=True)
class AlertCursor:
    """How far alerts were handled: asset-check execution record id and run-failure event storage id."""

    checks: int = 0
    runs: int = 0

    def encode(self) -> str:
        return json.dumps({"checks": self.checks, "runs": self.runs})

    @classmethod
    def decode(cls, text: str | None) -> AlertCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data.get("checks", 0)), int(data.get("runs", 0)))


def _check_alert(record: AssetCheckExecutionRecord, base_url: str) -> Alert:
    evaluation = record.event.dagster_event.event_specific_data
    asset = "/".join(record.key.asset_key.path)
    return Alert(record.id, "check_failed",
                 f"crm_sync check failed ({evaluation.severity.value}): {asset} {record.key.name}",
                 evaluation.description or "", record.run_id, f"{base_url}/runs/{record.run_id}")


def _run_alert(record: EventLogRecord, base_url: str) -> Alert:
    entry = record.event_log_entry
    message = entry.dagster_event.message if entry.dagster_event else entry.user_message
    return Alert(record.storage_id, "run_failed", f"crm_sync run failed: {entry.job_name or ''}", message or "",
                 record.run_id, f"{base_url}/runs/{record.run_id}")


def _settled(instance: DagsterInstance, record: AssetCheckExecutionRecord) -> bool:
    """A record is settled once evaluated, or once its run ended without evaluating it."""
    if record.status != AssetCheckExecutionRecordStatus.PLANNED:
        return True
    run = instance.get_run_by_id(record.run_id)
    return run is None or run.is_finished


def read_check_alerts(instance: DagsterInstance, check_keys: Sequence[AssetCheckKey], after: int, *,
                      base_url: str, limit: int = BATCH) -> tuple[list[Alert], int]:
    """Failed evaluations of `check_keys` in execution records after id `after`, and the id read up to."""
    records: list[AssetCheckExecutionRecord] = []
    for key in check_keys:
        records += [r for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=limit)
                    if r.id > after]
    alerts: list[Alert] = []
    read_up_to = after
    for record in sorted(records, key=lambda r: r.id):
        if not _settled(instance, record):
            break
        if record.status == AssetCheckExecutionRecordStatus.FAILED and record.event is not None:
            alerts.append(_check_alert(record, base_url))
        read_up_to = record.id
    return alerts, read_up_to


def read_run_alerts(instance: DagsterInstance, after: int, *, base_url: str,
                    limit: int = BATCH) -> tuple[list[Alert], int]:
    """Failed runs whose RUN_FAILURE event's storage id is after `after`, and the id read up to."""
    records = instance.fetch_run_status_changes(
        RunStatusChangeRecordsFilter(DagsterEventType.RUN_FAILURE, after_storage_id=after),
        limit=limit, ascending=True).records
    return [_run_alert(r, base_url) for r in records], max([after, *(r.storage_id for r in records)])


def post_alert(webhook_url: str, alert: Alert, *, timeout: float = 10.0) -> None:
    """POST the alert's JSON to the webhook; raises requests.HTTPError on a non-2xx answer."""
    response = requests.post(webhook_url, json=alert.payload(), timeout=timeout)
    response.raise_for_status()


def deliver_alerts(instance: DagsterInstance, check_keys: Sequence[AssetCheckKey], cursor: AlertCursor, *,
                   webhook_url: str | None = None, log_fn: Callable[[str], None] | None = None,
                   base_url: str | None = None) -> tuple[list[Alert], AlertCursor]:
    """Read new alerts and post each (or log it, without a webhook); return those delivered and the new cursor.

    A cursor stops before the first alert that could not be posted, so it is tried again next time.
    """
    webhook_url = webhook_url if webhook_url is not None else os.environ.get(WEBHOOK_ENV) or None
    base_url = base_url or ui_url()
    log_fn = log_fn or log.warning
    check_alerts, checks_read = read_check_alerts(instance, check_keys, cursor.checks, base_url=base_url)
    run_alerts, runs_read = read_run_alerts(instance, cursor.runs, base_url=base_url)
    delivered: list[Alert] = []
    positions = {"checks": checks_read, "runs": runs_read}
    for stream, alerts in (("checks", check_alerts), ("runs", run_alerts)):
        for alert in alerts:
            if webhook_url:
                try:
                    post_alert(webhook_url, alert)
                except requests.RequestException as exc:
                    log_fn(f"could not post the alert to the webhook ({exc}); trying again next time")
                    positions[stream] = alert.storage_id - 1
                    break
            else:
                log_fn(f"{alert.title}: {alert.detail} ({alert.link})")
            delivered.append(alert)
    return delivered, AlertCursor(positions["checks"], positions["runs"])
