"""Jobs, schedules and the change sensor of the receive side.
- `receive_every_10_minutes` (LastModifiedDate; its schedule is on by default) and
  `receive_every_30_minutes` (SystemModstamp, automation included; off by default). Only one is active:
  the 10-minute schedule stands aside (skips, saying why) while the 30-minute one is running or while the
  sections' `defaults.modstamp_field` is SystemModstamp; so turning the 30-minute schedule on in the UI
  switches the 10-minute one off, and turning it off switches the 10-minute one back on.
- Each tick asks Salesforce in ONE composite call which sections changed, and requests runs of only
  those assets, for today's partition (and yesterday's until its cursor reaches midnight).
- `salesforce_changes`: the same check as a sensor on a short interval (off by default).
- `receive_range`: the receive assets over the partitions (or range) one picks; one Bulk query serves
  many days. A full fetch of every partition is `full_fetch` (full_fetch.py), which cannot run half.
"""


from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from crm_sync.defs.receive_assets import asset_key, op_name
from crm_sync.defs.resources import PlatformResource
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Section, Settings
from crm_sync.sync.ticks import log_checked_sections, plan_tick

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export the class
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

STANDARD = "LastModifiedDate"
SYSTEM = "SystemModstamp"
STANDARD_JOB = "receive_every_10_minutes"
SYSTEM_JOB = "receive_every_30_minutes"
SYSTEM_SCHEDULE = f"{SYSTEM_JOB}_schedule"
RANGE_JOB = "receive_range"


def _incremental_config(sections: Sequence[Section], modstamp_field: str) -> dict:
    return {"ops": {op_name(s): {"config": {"incremental": True, "modstamp_field": modstamp_field}}
                    for s in sections}}


def build_receive_jobs(settings: Settings, partitions: dg.PartitionsDefinition,
                       sections: Sequence[Section]) -> list["UnresolvedAssetJobDefinition"]:
    # Checks run hourly in `health_checks`, not with every receive run.
    selection = dg.AssetSelection.assets(*[asset_key(s) for s in sections]).without_checks()
    return [
        dg.define_asset_job(STANDARD_JOB, selection=selection, partitions_def=partitions,
                            config=_incremental_config(sections, STANDARD),
                            description="Receive changes by LastModifiedDate (people and the API)."),
        dg.define_asset_job(SYSTEM_JOB, selection=selection, partitions_def=partitions,
                            config=_incremental_config(sections, SYSTEM),
                            description="Receive changes by SystemModstamp (automation included)."),
        dg.define_asset_job(RANGE_JOB, selection=selection, partitions_def=partitions,
                            description="The receive assets over the partitions you pick (a range runs as one "
                                        "run per asset: one Bulk query serves many days). For EVERY "
                                        "partition, launch `full_fetch` instead."),
    ]


def _tick_requests(salesforce: SalesforceResource, platform: PlatformResource, sections: Sequence[Section],
                   modstamp_field: str, trigger: str, key_suffix: str | None = None):
    """One composite call decides; a run request per due partition, for the due sections only.

    The run key joins the trigger, the partition, the due sections' cursors and `key_suffix`, so the same
    state never launches twice while a new tick after new work does.
    """
    with platform.open_store() as store:
        current = [store.section(s.object) for s in sections]
        plan = plan_tick(salesforce.get_client(), store, current, modstamp_field=modstamp_field)
        log_checked_sections(store, plan, modstamp_field=modstamp_field, trigger=trigger)
    if plan.empty:
        return dg.SkipReason("nothing new in Salesforce since the cursors")
    by_object = {s.object: s for s in sections}
    cursors = ",".join(f"{c.section}@{c.cursor.isoformat() if c.cursor else '-'}" for c in plan.changes if c.due)
    requests = []
    for day, objects in sorted(plan.runs.items()):
        due = [by_object[o] for o in objects]
        run_key = "|".join(filter(None, [trigger, day.isoformat(), cursors, key_suffix]))
        requests.append(dg.RunRequest(run_key=run_key, partition_key=day.isoformat(),
                                      asset_selection=[asset_key(s) for s in due],
                                      run_config=_incremental_config(due, modstamp_field),
                                      tags={"crm_sync/trigger": trigger}))
    return requests


def active_receive_job(instance: dg.DagsterInstance | None, settings: Settings) -> tuple[str, int]:
    """The modstamp field and interval (minutes) of the receive job that is on.

    The 30-minute SystemModstamp job wins when the sections say so or when its schedule runs in `instance`
    (an instance without schedule storage, such as an ephemeral one, runs no schedule).
    """
    defaults = settings.defaults
    system_on = defaults.modstamp_field == SYSTEM or (
        instance is not None and instance.schedule_storage is not None
        and any(s.name == SYSTEM_SCHEDULE and s.is_running for s in instance.all_instigator_state()))
    if system_on:
        return SYSTEM, defaults.system_modstamp_interval_minutes
    return STANDARD, defaults.standard_interval_minutes


def build_receive_schedules(settings: Settings, jobs: Sequence["UnresolvedAssetJobDefinition"],
                            sections: Sequence[Section]) -> list[dg.ScheduleDefinition]:
    by_name = {j.name: j for j in jobs}
    minutes = settings.defaults

    @dg.schedule(name=f"{STANDARD_JOB}_schedule", job=by_name[STANDARD_JOB],
                 cron_schedule=f"*/{minutes.standard_interval_minutes} * * * *",
                 default_status=dg.DefaultScheduleStatus.RUNNING, execution_timezone="UTC",
                 description="Every 10 minutes: one composite call finds changed sections; runs only those.")
    def standard(context: dg.ScheduleEvaluationContext, salesforce: SalesforceResource,
                 platform: PlatformResource):
        instance = context.instance if context.instance_ref else None
        if active_receive_job(instance, platform.settings())[0] == SYSTEM:
            return dg.SkipReason("the 30-minute SystemModstamp job is active, so the 10-minute one stands aside")
        return _tick_requests(salesforce, platform, sections, STANDARD, STANDARD_JOB,
                              context.scheduled_execution_time.isoformat())

    @dg.schedule(name=SYSTEM_SCHEDULE, job=by_name[SYSTEM_JOB],
                 cron_schedule=f"*/{minutes.system_modstamp_interval_minutes} * * * *",
                 default_status=dg.DefaultScheduleStatus.STOPPED, execution_timezone="UTC",
                 description="Every 30 minutes by SystemModstamp (automation included). Turning it on "
                             "switches the 10-minute schedule off.")
    def system(context: dg.ScheduleEvaluationContext, salesforce: SalesforceResource,
               platform: PlatformResource):
        return _tick_requests(salesforce, platform, sections, SYSTEM, SYSTEM_JOB,
                              context.scheduled_execution_time.isoformat())

    return [standard, system]


def build_change_sensor(settings: Settings, jobs: Sequence["UnresolvedAssetJobDefinition"],
                        sections: Sequence[Section]) -> dg.SensorDefinition:
    job = next(j for j in jobs if j.name == STANDARD_JOB)

    @dg.sensor(name="salesforce_changes", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="One composite call a minute: launches runs for the sections with new records only.")
    def salesforce_changes(context: dg.SensorEvaluationContext, salesforce: SalesforceResource,
                           platform: PlatformResource):
        instance = context.instance if context.instance_ref else None
        field = active_receive_job(instance, platform.settings())[0]
        return _tick_requests(salesforce, platform, sections, field, "salesforce_changes")

    return salesforce_changes
