"""The integration's status at a glance: Active, Error, Incomplete or Inactive, and what it rests on.

- Incomplete: setup unfinished: no Salesforce credentials configured, or no enabled sync section;
- Inactive: paused (`crm-sync pause`): schedules and sensors stopped, every setting kept;
- Error: a health check failed at its latest evaluation, or a section's latest sync failed;
- Active: none of the above.

`gather_status()` reads the facts (sync log, platform counts, outbox, credentials, optionally one
`limits` call); `decide_status()` is the rule above on those facts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.salesforce.config import SalesforceConfig
from crm_sync.salesforce.errors import SalesforceConfigError
from crm_sync.salesforce.limits import daily_api_usage
from crm_sync.sync.health.checks import OrgProbe

CHECK_HISTORY = timedelta(days=1)  # health check rows older than this no longer count as current


class Status(StrEnum):
    ACTIVE = "Active"
    ERROR = "Error"
    INCOMPLETE = "Incomplete"
    INACTIVE = "Inactive"


@dataclass
class SectionStatus:
    """One section: its last sync, what it did, and what waits to be sent."""

    section: str
    model: str
    direction: str
    records: int = 0
    last_sync_at: str = ""
    last_sync_event: str = ""  # sync_completed | sync_failed | ""
    last_error: str = ""
    imported: int = 0
    updated: int = 0
    deleted: int = 0
    outbox_depth: int = 0
    dead_letters: int = 0
    failed_checks: list[str] = field(default_factory=list)


@dataclass
class StatusReport:
    """Everything `crm-sync status` prints and the UI shows as metadata."""

    status: Status
    reasons: list[str]
    sections: list[SectionStatus]
    paused: bool = False
    credentials: str = ""
    api_used: int | None = None
    api_max: int | None = None
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def failed_checks(self) -> list[str]:
        return [f"{s.section}.{c}" for s in self.sections for c in s.failed_checks]

    @property
    def outbox_depth(self) -> int:
        return sum(s.outbox_depth for s in self.sections)

    @property
    def dead_letters(self) -> int:
        return sum(s.dead_letters for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(status=self.status.value, failed_checks=self.failed_checks, outbox_depth=self.outbox_depth,
                    dead_letters=self.dead_letters)
        return data

    def render(self) -> str:
        """A short human-readable report."""
        lines = [f"Status: {self.status.value}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        api = f"{self.api_used}/{self.api_max} daily API requests used" if self.api_max else "API use unknown"
        lines.append(f"Credentials: {self.credentials}; {api}; outbox {self.outbox_depth}, "
                     f"dead letters {self.dead_letters}")
        lines.append(f"{'section':<14}{'model':<14}{'direction':<10}{'records':>8}  {'last sync (UTC)':<19}  "
                     f"{'result':<8}{'+new':>6}{'~upd':>6}{'-del':>6}{'outbox':>7}{'dead':>5}  failed checks")
        for s in self.sections:
            result = {"sync_completed": "ok", "sync_failed": "FAILED"}.get(s.last_sync_event, "-")
            lines.append(f"{s.section:<14}{s.model:<14}{s.direction:<10}{s.records:>8}  "
                         f"{_utc_seconds(s.last_sync_at):<19}  {result:<8}{s.imported:>6}{s.updated:>6}"
                         f"{s.deleted:>6}{s.outbox_depth:>7}{s.dead_letters:>5}  {', '.join(s.failed_checks) or '-'}")
        return "\n".join(lines)


def _utc_seconds(iso: str) -> str:
    """`2024-05-02 12:00:07` (UTC, whole seconds, 19 characters) from an ISO timestamp; `-` when empty."""
    if not iso:
        return "-"
    value = datetime.fromisoformat(iso)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def decide_status(*, has_credentials: bool, section_count: int, paused: bool, failed_checks: list[str],
                  failed_syncs: list[str]) -> tuple[Status, list[str]]:
    """The status and the reasons for it (see the module docstring for the order of the rules)."""
    missing = []
    if not has_credentials:
        missing.append("no Salesforce credentials are configured (SALESFORCE_* variables)")
    if section_count == 0:
        missing.append("no sync section is enabled")
    if missing:
        return Status.INCOMPLETE, missing
    if paused:
        return Status.INACTIVE, ["paused: schedules and sensors are stopped (crm-sync resume starts them)"]
    problems = [f"check failed: {name}" for name in failed_checks]
    problems += [f"last sync failed: {name}" for name in failed_syncs]
    if problems:
        return Status.ERROR, problems
    return Status.ACTIVE, []


def credentials_configured(environ: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """Whether SALESFORCE_* variables allow a login, and a word on which (or what is missing)."""
    try:
        config = SalesforceConfig.from_env(os.environ if environ is None else environ)
        return True, f"{config.auth_flow} login to {config.host}"
    except SalesforceConfigError as exc:
        return False, str(exc)


def _latest_rows(store: PlatformStore, events: tuple[str, ...], since: datetime | None = None) -> list[sa.Row]:
    log = store.schema.sync_log
    query = sa.select(log).where(log.c.event.in_(events)).order_by(log.c.id)
    if since is not None:
        query = query.where(log.c.at >= since)
    with store.engine.connect() as conn:
        return list(conn.execute(query))


def _last_syncs(store: PlatformStore) -> dict[str, sa.Row]:
    log = store.schema.sync_log
    latest = (sa.select(sa.func.max(log.c.id)).where(log.c.event.in_(("sync_completed", "sync_failed")))
              .group_by(log.c.section))
    with store.engine.connect() as conn:
        return {row.section: row for row in conn.execute(sa.select(log).where(log.c.id.in_(latest)))}


def _latest_checks(store: PlatformStore, now: datetime) -> dict[tuple[str, str], dict]:
    """The latest health_check row's details per (section, check) in the last CHECK_HISTORY."""

    latest: dict[tuple[str, str], dict] = {}
    for row in _latest_rows(store, ("health_check",), since=now - CHECK_HISTORY):
        details = json.loads(row.details) if row.details else {}
        latest[(row.section or "", details.get("check", ""))] = details
    return latest


def _outbox_counts(store: PlatformStore) -> dict[tuple[str, bool], int]:
    outbox = store.schema.outbox
    query = sa.select(outbox.c.model, outbox.c.dead, sa.func.count()).group_by(outbox.c.model, outbox.c.dead)
    with store.engine.connect() as conn:
        return {(model, bool(dead)): int(n) for model, dead, n in conn.execute(query)}


def gather_status(store: PlatformStore, *, paused: bool, client: SalesforceClient | None = None,
                  environ: Mapping[str, str] | None = None, now: datetime | None = None) -> StatusReport:
    """Collect the facts and decide the status. With `client`, one `limits` call reports API use."""

    now = now or datetime.now(UTC)
    settings = store.settings
    has_credentials, credentials = credentials_configured(environ)
    enabled = settings.enabled_sections()
    last_syncs = _last_syncs(store)
    checks = _latest_checks(store, now)
    outbox = _outbox_counts(store)
    sections: list[SectionStatus] = []
    for section in enabled:
        entry = SectionStatus(section.object, section.model, section.direction.value,
                              records=store.count_records(section, include_deleted=False),
                              outbox_depth=outbox.get((section.model, False), 0),
                              dead_letters=outbox.get((section.model, True), 0))
        last = last_syncs.get(section.object)
        if last is not None:
            details = json.loads(last.details) if last.details else {}
            entry.last_sync_at = last.at.isoformat()
            entry.last_sync_event = last.event
            entry.last_error = str(details.get("error", "")) if last.event == "sync_failed" else ""
            entry.imported = int(details.get("records_imported", 0) or 0)
            entry.updated = int(details.get("records_updated", 0) or 0)
            entry.deleted = int(details.get("records_deleted", 0) or 0)
        entry.failed_checks = sorted(check for (name, check), details in checks.items()
                                     if name == section.object and not details.get("passed", True)
                                     and not details.get("skipped"))
        sections.append(entry)

    api_used = api_max = None
    live_problem = None
    if client is not None and has_credentials:
        probe = OrgProbe.of(client)
        usage = daily_api_usage(probe.limits) if probe.limits else None
        if usage:
            api_used, api_max = usage.used, usage.max
        live_problem = probe.error
    else:
        quota = [d for (_, check), d in checks.items() if check == "api_quota" and "used" in d.get("metadata", {})]
        if quota:
            api_used, api_max = quota[-1]["metadata"]["used"], quota[-1]["metadata"]["max"]

    failed_checks = [f"{s.section}.{c}" for s in sections for c in s.failed_checks]
    if live_problem:
        failed_checks.insert(0, f"credentials (now: {live_problem})")
    failed_syncs = [f"{s.section}: {s.last_error}" for s in sections if s.last_sync_event == "sync_failed"]
    status, reasons = decide_status(has_credentials=has_credentials, section_count=len(enabled), paused=paused,
                                    failed_checks=failed_checks, failed_syncs=failed_syncs)
    return StatusReport(status, reasons, sections, paused=paused, credentials=credentials, api_used=api_used,
                        api_max=api_max, checked_at=now.isoformat())
