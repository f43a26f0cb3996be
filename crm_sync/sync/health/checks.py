"""The health checks of each receive section, as plain functions returning a `CheckResult`.

- credentials: a login and one cheap authenticated call (`limits`) succeed;
- field_mappings: every mapped field still exists in the object's describe (so it is readable),
  has a type its column can hold, and every send field is writable;
- api_quota: remaining daily API requests above `api_quota_min_percent` (ERROR below), warning
  below API_QUOTA_WARN_PERCENT;
- staleness: the last completed receive is within twice the active receive job's interval;
- reconciliation: Salesforce's count equals the platform's per partition day (see reconcile.py).

`run_checks()` evaluates any subset for several sections with one login, one `limits` call, one
describe per object and as few composite calls as the counts need. When `credentials` is evaluated and
fails, the checks that need Salesforce (field_mappings, api_quota, reconciliation) are not run: their
results are `skipped` with `cause` credentials, so one cause is reported once, by the check that found it.
A staleness failure at the same time names credentials as its likely cause.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.salesforce.errors import SalesforceError
from crm_sync.salesforce.limits import daily_api_usage
from crm_sync.settings import Section, Settings, validate_against_describe
from crm_sync.sync.health.reconcile import DEFAULT_CALL_BUDGET, Reconciliation, reconcile

CREDENTIALS = "credentials"
FIELD_MAPPINGS = "field_mappings"
API_QUOTA = "api_quota"
STALENESS = "staleness"
RECONCILIATION = "reconciliation"
CHECK_NAMES = (CREDENTIALS, FIELD_MAPPINGS, API_QUOTA, STALENESS, RECONCILIATION)
NEEDS_SALESFORCE = (FIELD_MAPPINGS, API_QUOTA, RECONCILIATION)
API_QUOTA_WARN_PERCENT = 25.0
MAX_LISTED_PARTITIONS = 100


class Severity(StrEnum):
    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome for one section (`section` is the Salesforce object; None before it is assigned).

    `skipped`: the check could not run because of `cause` (another check's failure); it neither passed nor
    failed. `cause` on a failure names the check whose failure explains it (default: the check itself).
    """

    check: str
    passed: bool
    description: str
    severity: Severity = Severity.ERROR
    section: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    cause: str | None = None

    @property
    def root_cause(self) -> str:
        return self.cause or self.check

    def for_section(self, section: str) -> CheckResult:
        return replace(self, section=section)


@dataclass(frozen=True)
class OrgProbe:
    """What one login and one `limits` call told: an error text, or the limits answer."""

    error: str | None
    limits: dict | None
    host: str = ""

    @classmethod
    def of(cls, client: SalesforceClient) -> OrgProbe:
        """Log in and ask `limits` (one API call); any failure is kept as text, never raised."""
        host = ""
        try:
            host = client.config.host
            client.login()
            return cls(None, client.limits(), host)
        except SalesforceError as exc:
            return cls(f"{type(exc).__name__}: {exc}", None, host)


def check_credentials(probe: OrgProbe) -> CheckResult:
    """Passed when the login and an authenticated call worked."""
    if probe.error is None:
        return CheckResult(CREDENTIALS, True, f"Logged in to {probe.host} and made an authenticated call.",
                           metadata={"host": probe.host})
    return CheckResult(CREDENTIALS, False, f"Salesforce did not accept the connection: {probe.error}",
                       metadata={"host": probe.host, "error": probe.error})


def check_api_quota(probe: OrgProbe, min_percent: float, warn_percent: float = API_QUOTA_WARN_PERCENT) -> CheckResult:
    """ERROR under `min_percent` of the daily API requests left, WARN under `warn_percent`."""
    usage = daily_api_usage(probe.limits) if probe.limits is not None else None
    if usage is None:
        reason = probe.error or "the limits answer has no DailyApiRequests entry"
        return CheckResult(API_QUOTA, False, f"Could not read the API quota: {reason}",
                           metadata={"error": reason})
    percent = round(100.0 * usage.remaining_fraction, 2)
    metadata = {"used": usage.used, "max": usage.max, "remaining": usage.remaining, "remaining_percent": percent}
    text = f"{usage.remaining} of {usage.max} daily API requests left ({percent}%)"
    if percent < min_percent:
        return CheckResult(API_QUOTA, False, f"{text}: under {min_percent:g}%.", metadata=metadata)
    if percent < warn_percent:
        return CheckResult(API_QUOTA, False, f"{text}: under {warn_percent:g}%.", Severity.WARN, metadata=metadata)
    return CheckResult(API_QUOTA, True, f"{text}.", metadata=metadata)


def check_field_mappings(section: Section, settings: Settings, describe: Callable[[str], dict | None]) -> CheckResult:
    """Every mapped field of `section` exists in describe with a fitting type; send fields are writable."""
    only = settings.model_copy(update={"sections": [section]})
    try:
        problems = validate_against_describe(only, describe)
    except SalesforceError as exc:
        return CheckResult(FIELD_MAPPINGS, False, f"Could not describe {section.object}: {exc}",
                           metadata={"error": str(exc)})
    metadata = {"fields_checked": len(section.fields), "problems": len(problems)}
    if problems:
        metadata["problem_list"] = "\n".join(problems)
        return CheckResult(FIELD_MAPPINGS, False, f"{len(problems)} mapped field(s) of {section.object} no longer "
                                                  f"fit the org: " + "; ".join(problems), metadata=metadata)
    return CheckResult(FIELD_MAPPINGS, True, f"All {len(section.fields)} mapped fields of {section.object} exist "
                                             "and are readable (and writable where sent).", metadata=metadata)


def last_completed_receive(store: PlatformStore, section: Section) -> datetime | None:
    """When the sync log last recorded a completed receive of `section`."""
    log = store.schema.sync_log
    query = sa.select(sa.func.max(log.c.at)).where(log.c.section == section.object, log.c.event == "sync_completed")
    with store.engine.connect() as conn:
        latest = conn.execute(query).scalar()
    if isinstance(latest, str):  # SQLite hands an aggregate back as its stored text
        latest = datetime.fromisoformat(latest)
    return latest.replace(tzinfo=UTC) if latest is not None and latest.tzinfo is None else latest


def check_staleness(section: str, last_receive: datetime | None, interval_minutes: int,
                    now: datetime | None = None) -> CheckResult:
    """Passed when the last completed receive is at most twice the active job's interval old."""
    now = now or datetime.now(UTC)
    allowed = timedelta(minutes=2 * interval_minutes)
    metadata: dict[str, Any] = {"allowed_minutes": 2 * interval_minutes}
    if last_receive is None:
        return CheckResult(STALENESS, False, f"{section} has never been received.", metadata=metadata)
    age = now - last_receive
    metadata.update(last_receive=last_receive.isoformat(), age_minutes=round(age.total_seconds() / 60, 1))
    if age > allowed:
        return CheckResult(STALENESS, False, f"The last receive of {section} finished {metadata['age_minutes']} "
                                             f"minutes ago; more than {2 * interval_minutes} allowed.",
                           metadata=metadata)
    return CheckResult(STALENESS, True, f"{section} was received {metadata['age_minutes']} minutes ago.",
                       metadata=metadata)


def check_reconciliation(result: Reconciliation) -> CheckResult:
    """Passed when no partition differs in a way pending changes cannot explain; names the differing ones."""
    keys = result.partition_keys
    metadata: dict[str, Any] = {
        "reconciled_until": result.until.isoformat() if result.until else "",
        "salesforce_count": result.salesforce_total, "platform_count": result.platform_total,
        "pending_changes": result.pending, "differing_partition_count": len(keys),
        "differing_partitions": ",".join(keys[:MAX_LISTED_PARTITIONS]),
    }
    if result.error:
        metadata["error"] = result.error
        return CheckResult(RECONCILIATION, False, f"Could not count {result.section}: {result.error}",
                           metadata=metadata)
    if result.until is None:
        return CheckResult(RECONCILIATION, True, f"{result.section} has not been received yet: nothing to compare.",
                           metadata=metadata)
    if keys:
        metadata["differences"] = {d.range.key: {"salesforce": d.salesforce, "platform": d.platform}
                                   for d in result.differences[:MAX_LISTED_PARTITIONS]}
    if not result.passed:
        return CheckResult(RECONCILIATION, False,
                           f"{result.section}: Salesforce and the platform differ in {len(keys)} partition(s): "
                           f"{', '.join(keys[:10])}{' ...' if len(keys) > 10 else ''}. Materialize (backfill) "
                           "those partitions.", metadata=metadata)
    explained = f" ({len(keys)} partition(s) differ by records changed since)" if keys else ""
    return CheckResult(RECONCILIATION, True, f"{result.section}: {result.salesforce_total} records in Salesforce and "
                                             f"{result.platform_total} on the platform up to "
                                             f"{metadata['reconciled_until']}{explained}.", metadata=metadata)


def skipped_for(check: str, probe: OrgProbe) -> CheckResult:
    """`check` not run because the credentials check failed."""
    return CheckResult(check, False, f"Not run: it needs Salesforce, and the credentials check failed "
                                     f"({probe.error}). Fix the credentials; this check runs again with the next "
                                     "evaluation.", metadata={"skipped_because": CREDENTIALS, "error": probe.error},
                       skipped=True, cause=CREDENTIALS)


def run_checks(client: SalesforceClient, store: PlatformStore, wanted: Mapping[str, set[str]], *,
               modstamp_field: str, interval_minutes: int, now: datetime | None = None,
               reconcile_budget: int = DEFAULT_CALL_BUDGET) -> list[CheckResult]:
    """Evaluate the checks named in `wanted` ({object: {check names}}) and return one result each."""
    settings = store.settings
    sections: Sequence[Section] = [store.section(name) for name in wanted]
    needs = set().union(*wanted.values()) if wanted else set()
    probe = OrgProbe.of(client) if needs & {CREDENTIALS, API_QUOTA, FIELD_MAPPINGS, RECONCILIATION} else None
    shared: dict[str, CheckResult] = {}
    if CREDENTIALS in needs:
        shared[CREDENTIALS] = check_credentials(probe)
    if API_QUOTA in needs:
        shared[API_QUOTA] = check_api_quota(probe, settings.defaults.api_quota_min_percent)
    reconciled: dict[str, Reconciliation] = {}
    to_reconcile = [s for s in sections if RECONCILIATION in wanted[s.object]]
    if to_reconcile and probe.error is None:
        reconciled = {r.section: r for r in reconcile(client, store, to_reconcile, modstamp_field=modstamp_field,
                                                      call_budget=reconcile_budget)}
    credentials_failed = CREDENTIALS in needs and probe.error is not None
    results: list[CheckResult] = []
    for section in sections:
        for name in CHECK_NAMES:
            if name not in wanted[section.object]:
                continue
            if credentials_failed and name in NEEDS_SALESFORCE:
                result = skipped_for(name, probe)
            elif name in shared:
                result = shared[name]
            elif name == FIELD_MAPPINGS:
                result = (check_field_mappings(section, settings, client.describe) if probe.error is None else
                          CheckResult(FIELD_MAPPINGS, False, f"Could not describe {section.object}: {probe.error}",
                                      metadata={"error": probe.error}))
            elif name == STALENESS:
                result = check_staleness(section.object, last_completed_receive(store, section), interval_minutes,
                                         now)
                if credentials_failed and not result.passed:
                    result = replace(result, cause=CREDENTIALS, metadata={**result.metadata, "cause": CREDENTIALS},
                                     description=f"{result.description} The credentials check fails too: no "
                                                 "receive can succeed until it passes.")
            else:
                result = check_reconciliation(reconciled.get(section.object) or Reconciliation(
                    section.object, None, error=probe.error))
            results.append(result.for_section(section.object))
    return results
