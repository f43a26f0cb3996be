"""One partitioned asset per receiving sync section, key ["salesforce", <Object>], chained in sync order.

The asset function is thin: it plans the window from the partition (or partition range of a batched
backfill) and calls `sync.receive`. Metadata is numeric so the UI plots it per partition.
"""

from typing import Literal

import dagster as dg

from crm_sync.defs.partitions import partition_day
from crm_sync.defs.resources import PlatformResource
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Section, Settings
from crm_sync.sync.receive_run import receive_days

GROUP = "salesforce_receive"
POOL = "salesforce_api"
BACKFILL_DAYS_PER_RUN = 400  # one Bulk query serves this many days of a full fetch


class ReceiveConfig(dg.Config):
    """How a run fetches: the whole partition (UI, backfill, full fetch) or only past the cursor (ticks)."""

    incremental: bool = False
    modstamp_field: Literal["", "LastModifiedDate", "SystemModstamp"] = ""


def asset_key(section: Section) -> dg.AssetKey:
    return dg.AssetKey(["salesforce", section.object])


def op_name(section: Section) -> str:
    return asset_key(section).to_python_identifier()


def _describe(section: Section) -> str:
    fields = ", ".join(f"{f.salesforce} -> {f.column}" for f in section.receive_fields())
    where = f" Filter: `{section.filter}`." if section.filter else ""
    return (f"Salesforce {section.object} received into the platform model `{section.model}` "
            f"(direction {section.direction.value}). Partition = UTC day of the modstamp.{where}\n\nFields: {fields}")


def build_receive_asset(section: Section, previous: Section | None,
                        partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The receive asset of one section; it depends on the section before it in sync order."""

    @dg.asset(
        key=asset_key(section),
        deps=[asset_key(previous)] if previous else None,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(BACKFILL_DAYS_PER_RUN),
        pool=POOL,
        group_name=GROUP,
        kinds={"salesforce"},
        owners=["team:data-engineering"],
        description=_describe(section),
        metadata={"platform_model": section.model, "direction": section.direction.value},
    )
    def receive(context: dg.AssetExecutionContext, config: ReceiveConfig, salesforce: SalesforceResource,
                platform: PlatformResource) -> dg.MaterializeResult:
        keys = context.partition_key_range
        with platform.open_store() as store:
            result = receive_days(salesforce.get_client(), store, section.object, partition_day(keys.start),
                                  partition_day(keys.end), incremental=config.incremental,
                                  modstamp_field=config.modstamp_field or None, run_id=context.run_id)
        return dg.MaterializeResult(metadata=result.metadata())

    return receive


def build_receive_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Receive assets for every enabled receiving section, each depending on the previous one."""
    receiving = settings.receiving_sections()
    return [build_receive_asset(s, receiving[i - 1] if i else None, partitions)
            for i, s in enumerate(receiving)]
