"""One partitioned asset per receiving sync section, key ["salesforce", <Object>].

Each asset depends on the synced objects its mapping references (Contact -> Account through AccountId,
every object -> User through OwnerId) and on its section's `after:`, so the graph reads as data
dependencies; the sync order is validated at load to be one order of it, and independent objects may run in
parallel within the `salesforce_api` pool. The mapping is shown as the asset's `dagster/column_schema`.

The asset function is thin: it calls `sync.receive_run` for the partition (or partition range of a batched
backfill) and hands each partition its own metadata (see PARTITION_METADATA), so the UI's plots follow days.
"""

from typing import Literal

import dagster as dg

from crm_sync.defs.partitions import partition_day
from crm_sync.defs.resources import PlatformResource
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Section, Settings
from crm_sync.settings.references import dependencies, references
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


PARTITION_METADATA = (
    "Each partition's metadata is its own: `records_imported`, `records_updated`, `records_deleted`, "
    "`records_skipped` and `records_fetched` count the records of that UTC modstamp day (the first partition "
    "holds every older record), `dagster/row_count` the platform rows in it. `api_calls`, `pages` and "
    "`seconds` belong to the whole run and are reported once, on the first partition of the run's range.")


def _describe(section: Section) -> str:
    fields = ", ".join(f"{f.salesforce} -> {f.column}" for f in section.receive_fields())
    where = f" Filter: `{section.filter}`." if section.filter else ""
    return (f"Salesforce {section.object} received into the platform model `{section.model}` "
            f"(direction {section.direction.value}). Partition = UTC day of the modstamp.{where}\n\n"
            f"{PARTITION_METADATA}\n\nFields: {fields}")


PLATFORM_COLUMNS = (
    ("salesforce_id", "string", "the record's 18-character Salesforce Id"),
    ("sf_last_modified", "datetime", "Salesforce LastModifiedDate of the stored version"),
    ("sf_system_modstamp", "datetime", "Salesforce SystemModstamp of the stored version"),
    ("deleted", "boolean", "true once Salesforce deleted the record (the row is kept, marked)"),
)


def column_schema(section: Section, sections: list[Section]) -> dg.TableSchema:
    """The platform model's columns: the platform's bookkeeping ones, then every mapped field in file order,
    each saying which Salesforce field fills it, its direction and the synced objects it references."""
    targets: dict[int, list[str]] = {}
    for ref in references(section, sections):
        targets.setdefault(ref.position, []).append(ref.target.object)
    mapped = []
    for position, field in enumerate(section.fields):
        direction = section.direction_of(field).value
        if direction == "off":
            continue
        pointer = f"; references {', '.join(targets[position])}" if position in targets else ""
        mapped.append(dg.TableColumn(field.column, field.type.value,
                                     description=f"{section.object}.{field.salesforce} ({direction}){pointer}"))
    bookkeeping = [dg.TableColumn(name, kind, description=text) for name, kind, text in PLATFORM_COLUMNS]
    return dg.TableSchema(columns=[*bookkeeping, *mapped])


def build_receive_asset(section: Section, upstream: list[Section], partitions: dg.PartitionsDefinition,
                        schema: dg.TableSchema) -> dg.AssetsDefinition:
    """The receive asset of one section; it depends on the receiving sections in `upstream`."""

    @dg.asset(
        key=asset_key(section),
        deps=[asset_key(s) for s in upstream] or None,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(BACKFILL_DAYS_PER_RUN),
        pool=POOL,
        group_name=GROUP,
        kinds={"salesforce"},
        owners=["team:data-engineering"],
        description=_describe(section),
        metadata={"platform_model": section.model, "direction": section.direction.value,
                  "dagster/column_schema": schema},
    )
    def receive(context: dg.AssetExecutionContext, config: ReceiveConfig, salesforce: SalesforceResource,
                platform: PlatformResource) -> dg.MaterializeResult:
        keys = context.partition_key_range
        with platform.open_store() as store:
            receipt = receive_days(salesforce.get_client(), store, section.object, partition_day(keys.start),
                                   partition_day(keys.end), incremental=config.incremental,
                                   modstamp_field=config.modstamp_field or None, run_id=context.run_id)
        for day, metadata in receipt.partition_metadata().items():
            context.add_asset_metadata(metadata, partition_key=day.isoformat())
        return dg.MaterializeResult()

    return receive


def build_receive_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Receive assets for every enabled receiving section, each depending on the sections it references."""
    receiving = settings.receiving_sections()
    return [build_receive_asset(s, dependencies(s, receiving), partitions, column_schema(s, receiving))
            for s in receiving]
