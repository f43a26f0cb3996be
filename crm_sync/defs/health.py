"""Health in Dagster: five asset checks on every receive asset, the `health_checks` job and its hourly
schedule (checks only, nothing materialized), and the `alerts` sensor.

All checks are one multi-asset check op (`crm_sync_health`), so a run logs in once, asks `limits` once,
describes each object once and packs the reconciliation counts into composite calls; any subset can
be run (from the UI, a receive run, or the job). Each evaluation is also written to the sync log
(`health_check` rows), and each checked asset gets an observation with its section's status summary.
"""


from collections.abc import Iterator, Sequence

import dagster as dg

from crm_sync.defs.receive_assets import POOL, asset_key
from crm_sync.defs.receive_triggers import active_receive_job
from crm_sync.defs.resources import PlatformResource
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Section, Settings
from crm_sync.sync.health import alerts as alert_delivery
from crm_sync.sync.health.checks import (
    API_QUOTA,
    CHECK_NAMES,
    CREDENTIALS,
    FIELD_MAPPINGS,
    RECONCILIATION,
    STALENESS,
    CheckResult,
    Severity,
    run_checks,
)
from crm_sync.sync.health.pause import is_paused
from crm_sync.sync.health.status import gather_status

HEALTH_JOB = "health_checks"
ALERTS_SENSOR = "alerts"

CHECK_DESCRIPTIONS = {
    CREDENTIALS: "Logs in to Salesforce and makes one authenticated call. Fails when the credentials are "
                 "missing, expired or revoked, or the org cannot be reached: nothing syncs until it passes. "
                 "Fix the SALESFORCE_* settings (password, security token, connected app) and run it again. "
                 "While it fails, field_mappings, api_quota and reconciliation are Skipped (they need "
                 "Salesforce) and the alerts name this one cause.",
    FIELD_MAPPINGS: "Every mapped field still exists in the object's describe (so the integration user can read "
                    "it), has a type its platform column can hold, and is writable where the section sends it. "
                    "Fails when a field was deleted, renamed or hidden by field-level security: restore the "
                    "field or its permission, or change the sync section; the metadata lists each problem.",
    API_QUOTA: "Remaining daily API requests of the org. ERROR under the sections' api_quota_min_percent "
               "(10% by default), WARN under 25%. When it fails, syncs will soon stop with "
               "REQUEST_LIMIT_EXCEEDED: lower the schedule frequency or find the other API consumers.",
    STALENESS: "The last successful receive of this object is at most twice the active receive job's interval "
               "old (20 minutes for the 10-minute job, 60 for the 30-minute one). Fails when receive runs stop "
               "or keep failing: check the schedule is running, the daemon is up, and the latest runs' errors.",
    RECONCILIATION: "Salesforce's record count per partition day (COUNT(), packed in composite calls) against "
                    "the platform's rows per day of the stored modstamp, up to the receive cursor. Fails when "
                    "they differ beyond changes still on their way; metadata `differing_partitions` names the "
                    "partitions: backfill (materialize) exactly those to repair them.",
}


def _receiving(settings: Settings) -> list[Section]:
    return settings.receiving_sections()


def _active_job(context: dg.AssetCheckExecutionContext, settings: Settings) -> tuple[str, int]:
    return active_receive_job(context.instance, settings)


def _to_dagster(result: CheckResult, key: dg.AssetKey) -> dg.AssetCheckResult:
    """The Dagster result; a failure's metadata names its `cause` (the alerts sensor groups by it)."""
    severity = dg.AssetCheckSeverity.WARN if result.severity is Severity.WARN else dg.AssetCheckSeverity.ERROR
    metadata = result.metadata if result.passed else {**result.metadata, "cause": result.root_cause}
    return dg.AssetCheckResult(asset_key=key, check_name=result.check, passed=result.passed, severity=severity,
                               description=result.description, metadata=metadata)


def _report_skipped(context: dg.AssetCheckExecutionContext, results: Sequence[CheckResult]) -> None:
    """One run-log line per cause for the checks that could not run (Dagster shows them as Skipped)."""
    by_cause: dict[str, list[CheckResult]] = {}
    for result in results:
        by_cause.setdefault(result.root_cause, []).append(result)
    for cause, skipped in by_cause.items():
        names = sorted({f"{r.section}.{r.check}" for r in skipped})
        context.log.warning(f"{len(names)} check(s) not run because `{cause}` failed: {', '.join(names)}. "
                            f"{skipped[0].description}")


def build_health_checks(settings: Settings) -> dg.AssetChecksDefinition:
    """One multi-asset check op holding every check of every receive asset."""
    sections = _receiving(settings)
    by_key = {asset_key(s): s for s in sections}
    specs = [dg.AssetCheckSpec(name, asset=asset_key(s), description=CHECK_DESCRIPTIONS[name])
             for s in sections for name in CHECK_NAMES]

    @dg.multi_asset_check(specs=specs, can_subset=True, name="crm_sync_health", pool=POOL,
                          description="crm_sync health checks (credentials, field mappings, API quota, "
                                      "staleness, reconciliation).")
    def crm_sync_health(context: dg.AssetCheckExecutionContext, salesforce: SalesforceResource,
                        platform: PlatformResource) -> Iterator[dg.AssetCheckResult]:
        wanted: dict[str, set[str]] = {}
        for check_key in context.selected_asset_check_keys:
            wanted.setdefault(by_key[check_key.asset_key].object, set()).add(check_key.name)
        with platform.open_store() as store:
            modstamp_field, interval = _active_job(context, store.settings)
            client = salesforce.get_client()
            results = run_checks(client, store, wanted, modstamp_field=modstamp_field, interval_minutes=interval)
            for result in results:
                store.log_event("health_check", section=result.section, run_id=context.op_execution_context.run_id,
                                count=int(result.passed),
                                details={"check": result.check, "passed": result.passed,
                                         "severity": result.severity.value, "description": result.description,
                                         "metadata": result.metadata, "skipped": result.skipped,
                                         "cause": result.root_cause})
            report = gather_status(store, paused=is_paused(context.instance))
        summaries = {s.section: s for s in report.sections}
        _report_skipped(context, [r for r in results if r.skipped])
        for result in results:  # a skipped check yields nothing: Dagster records it as Skipped
            if not result.skipped:
                yield _to_dagster(result, asset_key(store.section(result.section)))
        for section_name in wanted:
            summary = summaries.get(section_name)
            if summary is None:
                continue
            context.op_execution_context.log_event(dg.AssetObservation(asset_key=asset_key(store.section(section_name)), metadata={
                "integration_status": report.status.value, "status_reasons": "\n".join(report.reasons) or "-",
                "platform_records": summary.records, "last_sync_at": summary.last_sync_at or "-",
                "last_sync": summary.last_sync_event or "-", "last_imported": summary.imported,
                "last_updated": summary.updated, "last_deleted": summary.deleted,
                "outbox_depth": summary.outbox_depth, "dead_letters": summary.dead_letters,
                "failed_checks": ", ".join(summary.failed_checks) or "-",
                "api_used": report.api_used if report.api_used is not None else -1,
                "api_max": report.api_max if report.api_max is not None else -1,
            }))

    return crm_sync_health


def build_alerts_sensor(check_keys: Sequence[dg.AssetCheckKey]) -> dg.SensorDefinition:
    """The `alerts` sensor: failed check evaluations and failed runs, grouped by cause, to CRM_SYNC_ALERT_WEBHOOK."""

    @dg.sensor(name=ALERTS_SENSOR, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Posts failed asset checks and failed runs to the webhook in CRM_SYNC_ALERT_WEBHOOK "
                           "(Slack-compatible JSON, with a link to the run), one alert per cause per hour naming "
                           "every asset it touched: revoked credentials make one alert, not one per check. "
                           "Without a webhook it logs them. Its cursor holds the event log ids read and the "
                           "failures held back until their cause's hour has passed.")
    def alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        before = alert_delivery.AlertCursor.decode(context.cursor)
        delivered, after = alert_delivery.deliver_alerts(context.instance, check_keys, before,
                                                         log_fn=context.log.warning)
        if after != before:
            context.update_cursor(after.encode())
        return dg.SkipReason(f"{len(delivered)} alert(s) delivered" if delivered else "no new failures")

    return alerts


def build_health_definitions(settings: Settings) -> dg.Definitions:
    """The checks, the `health_checks` job, its hourly schedule and the `alerts` sensor (merged by definitions.py)."""
    checks = build_health_checks(settings)
    keys = [asset_key(s) for s in _receiving(settings)]
    job = dg.define_asset_job(HEALTH_JOB, selection=dg.AssetSelection.checks_for_assets(*keys),
                              description="Runs every health check of every receive asset without materializing.")
    schedule = dg.ScheduleDefinition(name=f"{HEALTH_JOB}_schedule", job=job, cron_schedule="0 * * * *",
                                     execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
                                     description="Every hour: every health check, nothing materialized.")
    return dg.Definitions(asset_checks=[checks], jobs=[job], schedules=[schedule],
                          sensors=[build_alerts_sensor(list(checks.check_keys))])
