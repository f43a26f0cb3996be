"""Dagster wiring of the send side (thin: the work is in crm_sync.sync.send).

- sensor `platform_outbox` (every `push_interval_seconds`, on by default): claims due outbox rows with a
  lease and launches a `push_changes` run for that claim (run_key = the claim token); while such a run is
  still polling and no due row has waited `STALE_SECONDS`, it leaves the rows to that run;
- job `push_changes`: pushes the claimed rows (or, launched by hand, claims some itself); launched by the
  sensor, it then keeps polling the outbox (sync/send/follow.py) until idle `push_follow_idle_seconds`, so
  an edit waits for a poll (`push_poll_seconds`), not for a sensor tick and a run's start;
- job `nightly_push` and its schedule (`nightly_push_hour_utc`, 02:00 UTC by default): the `system` changes;
- jobs `push_<model>` (push_company, push_end_user, ...): every record of one model, launched by hand.
"""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from crm_sync.defs.resources import PlatformResource
from crm_sync.platform import PlatformStore
from crm_sync.platform.types import utc_now
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Section, Settings
from crm_sync.sync.send.follow import follow_outbox
from crm_sync.sync.send.nightly import nightly_push, push_model
from crm_sync.sync.send.outbox_batches import claim_batch, claimed_batch
from crm_sync.sync.send.push import PushResult, push_changes

PUSH_CHANGES = "push_changes"
PUSH_CHANGES_OP = "push_outbox_changes"
SENSOR_NAME = "platform_outbox"
CLAIM_LIMIT = 10_000  # rows a sensor tick claims; above push_bulk_threshold a section goes by Bulk API 2.0
POOL = "salesforce_api"  # nightly and whole-model pushes share the pool of the receive runs
# Near-real-time pushes have a pool of their own: queued behind the 10-minute receive runs in
# `salesforce_api`, an edit waited for minutes (bench/push.py under the daemon).
PUSH_POOL = "salesforce_push"
FOLLOW_TAG = "crm_sync/follows_outbox"  # a push_changes run that keeps polling the outbox
STALE_SECONDS = 10  # a due row older than this is claimed by the sensor even while a polling run lives
LIVE_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                 dg.DagsterRunStatus.STARTED]


class PushChangesConfig(dg.Config):
    claim_token: str = Field(default="", description="the claim the sensor made; empty: claim due rows now")
    limit: int = Field(default=CLAIM_LIMIT, ge=1, description="rows to claim when no claim_token is given")
    follow_idle_seconds: float = Field(
        default=0, ge=0, description="keep polling the outbox after the first batch until nothing was due for "
                                     "this long (0: push one batch)")


def _output(result: PushResult) -> dg.Output[int]:
    metadata = result.metadata()
    return dg.Output(result.sent, metadata={k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
                                            for k, v in metadata.items()})


@dg.op(name=PUSH_CHANGES_OP, pool=PUSH_POOL, description="Push claimed outbox rows to Salesforce.")
def push_changes_op(context: dg.OpExecutionContext, config: PushChangesConfig, salesforce: SalesforceResource,
                    platform: PlatformResource) -> dg.Output[int]:
    client = salesforce.get_client()
    with platform.open_store() as store:
        batch = claimed_batch(store, config.claim_token) if config.claim_token else \
            claim_batch(store, limit=config.limit)
        context.log.info(f"{len(batch.entries)} outbox rows under claim {batch.claim_token}")
        if not config.follow_idle_seconds:
            return _output(push_changes(client, store, batch=batch, run_id=context.run_id))
        defaults = store.settings.defaults
        result = follow_outbox(client, store, first=batch, limit=config.limit,
                               idle_seconds=config.follow_idle_seconds,
                               poll_seconds=defaults.push_poll_seconds,
                               max_seconds=defaults.push_follow_max_seconds, run_id=context.run_id,
                               on_push=lambda r: context.log.info(f"pushed {r.sent} records ({r.failed} failed)"))
    return _output(result)


@dg.op(name="nightly_push_records", pool=POOL, description="Push Companies and End Users changed by the system.")
def nightly_push_op(context: dg.OpExecutionContext, salesforce: SalesforceResource,
                    platform: PlatformResource) -> dg.Output[int]:
    client = salesforce.get_client()
    with platform.open_store() as store:
        results = nightly_push(client, store, run_id=context.run_id)
    metadata = {f"{model}_{key}": value for model, result in results.items()
                for key, value in result.metadata().items() if not isinstance(value, (dict, list))}
    return dg.Output(sum(r.sent for r in results.values()), metadata=metadata)


def _push_model_job(section: Section) -> dg.JobDefinition:
    @dg.op(name=f"push_{section.model}_records", pool=POOL,
           description=f"Push every {section.model} record to {section.object}.")
    def push_all(context: dg.OpExecutionContext, salesforce: SalesforceResource,
                 platform: PlatformResource) -> dg.Output[int]:
        client = salesforce.get_client()
        with platform.open_store() as store:
            return _output(push_model(client, store, section.model, run_id=context.run_id))

    @dg.job(name=f"push_{section.model}",
            description=f"Push every {section.model} record to Salesforce ({section.object}); launch by hand.")
    def job() -> None:
        push_all()

    return job


def build_send_definitions(settings: Settings) -> dg.Definitions:
    """The send side's jobs, sensor and schedule (resources come from the main Definitions)."""

    @dg.job(name=PUSH_CHANGES, executor_def=dg.in_process_executor,  # one op: no step process to start
            description="Push user changes from the outbox (launched by platform_outbox).")
    def push_changes_job() -> None:
        push_changes_op()

    @dg.job(name="nightly_push", description="Push the system changes since the last nightly push.")
    def nightly_push_job() -> None:
        nightly_push_op()

    @dg.sensor(name=SENSOR_NAME, job=push_changes_job,
               minimum_interval_seconds=settings.defaults.push_interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Claims due outbox rows and launches a push_changes run for them.")
    def platform_outbox(context: dg.SensorEvaluationContext, platform: PlatformResource):
        follow_idle = settings.defaults.push_follow_idle_seconds
        follow = follow_idle > 0
        with PlatformStore(platform.url or None, platform.settings(), migrate=False) as store:
            if not store.has_schema():
                return dg.SkipReason("the platform database has no crm_sync tables yet, so no edit to push "
                                     "(the first receive creates them)")
            due_since = store.oldest_due_outbox()
            if due_since is None:
                return dg.SkipReason("no user change is due in the outbox")
            if follow and due_since > utc_now() - timedelta(seconds=STALE_SECONDS) and context.instance.get_runs(
                    filters=dg.RunsFilter(job_name=PUSH_CHANGES, statuses=LIVE_STATUSES, tags={FOLLOW_TAG: "true"}),
                    limit=1):
                return dg.SkipReason("a push_changes run is polling the outbox")
            batch = claim_batch(store, limit=CLAIM_LIMIT)
        if batch.empty:
            return dg.SkipReason("no user change is due in the outbox")
        records = len({(e.model, e.record_id) for e in batch.entries})
        return dg.RunRequest(
            run_key=batch.claim_token,
            run_config={"ops": {PUSH_CHANGES_OP: {"config": {"claim_token": batch.claim_token,
                                                            "follow_idle_seconds": follow_idle}}}},
            tags={"crm_sync/trigger": SENSOR_NAME, "crm_sync/outbox_rows": str(len(batch.entries)),
                  "crm_sync/records": str(records), FOLLOW_TAG: str(follow).lower()})

    nightly_schedule = dg.ScheduleDefinition(
        name="nightly_push_schedule", job=nightly_push_job,
        cron_schedule=f"0 {settings.defaults.nightly_push_hour_utc} * * *", execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING, description="The nightly push of system changes.")
    model_jobs = [_push_model_job(s) for s in settings.in_order() if s.sends]
    return dg.Definitions(jobs=[push_changes_job, nightly_push_job, *model_jobs], sensors=[platform_outbox],
                          schedules=[nightly_schedule])
