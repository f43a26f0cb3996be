"""`full_fetch`: ONE action that receives every partition of every receive asset, so it cannot run half.

It is an unpartitioned job: launching it (UI Launchpad, `dagster job launch -j full_fetch`, a schedule)
has no partition to choose. Its one op submits a Dagster backfill of ALL partitions of the receive assets,
computed when it runs (the first partition, holding all history before `partition_start_date`, through
today's), which the daemon then runs in dependency order, batched by the assets' backfill policy.
The backfill API is Dagster's own (the one the UI's "Launch backfill" uses); it is not yet exported in
`dagster`'s public namespace, hence the private imports.
"""

import time
from collections.abc import Sequence

import dagster as dg

from crm_sync.defs.resources import default_resources

FULL_FETCH_JOB = "full_fetch"
TRIGGER_TAG = "crm_sync/trigger"
DESCRIPTION = (
    "Full fetch: every partition of every receive asset, whatever day it is. Launch this job (no partition "
    "to choose): it submits one backfill of ALL partitions (Overview > Backfills shows its progress). "
    "For some days only, use `receive_range` or an asset's Materialize with the partitions you pick.")


def build_full_fetch_job(receive_assets: Sequence[dg.AssetsDefinition]) -> dg.JobDefinition:
    """The job over these receive assets (the graph the backfill targets is theirs, as in the repository)."""
    keys = [key for assets in receive_assets for key in assets.keys]

    @dg.op(name="submit_full_fetch_backfill", description="Submit a backfill of every partition of "
                                                            "every receive asset.")
    def submit(context: dg.OpExecutionContext) -> dg.Output[str]:
        from dagster._core.execution.backfill import PartitionBackfill
        from dagster._core.utils import make_new_backfill_id

        graph = dg.Definitions(assets=receive_assets, resources=default_resources()).resolve_asset_graph()
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id=make_new_backfill_id(), asset_graph=graph,
            partition_names=None, asset_selection=keys, backfill_timestamp=time.time(),
            tags={TRIGGER_TAG: FULL_FETCH_JOB, "crm_sync/submitted_by_run": context.run_id},
            dynamic_partitions_store=context.instance, all_partitions=True,
            title="crm_sync full fetch", description=DESCRIPTION, run_config=None)
        context.instance.add_backfill(backfill)
        partitions = backfill.asset_backfill_data.target_subset.num_partitions_and_non_partitioned_assets
        context.log.info(f"backfill {backfill.backfill_id}: {partitions} asset partitions of {len(keys)} assets")
        return dg.Output(backfill.backfill_id, metadata={"backfill_id": backfill.backfill_id,
                                                          "asset_partitions": partitions, "assets": len(keys)})

    @dg.job(name=FULL_FETCH_JOB, description=DESCRIPTION, tags={TRIGGER_TAG: FULL_FETCH_JOB})
    def full_fetch() -> None:
        submit()

    return full_fetch
