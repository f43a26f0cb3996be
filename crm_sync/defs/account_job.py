"""`sync_account`: receive one Account with its related records and the User section, from the UI."""
import dagster as dg
from pydantic import Field

from crm_sync.defs.resources import PlatformResource
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.sync.account import sync_account
from crm_sync.sync.preflight import check_sections
from crm_sync.sync.receive import Receiver


class SyncAccountConfig(dg.Config):
    account_id: str = Field(description="The 15- or 18-character Id of the Account to sync")


@dg.op(pool="salesforce_api", description="Receive the Account, its related records and the User section.")
def receive_account(context: dg.OpExecutionContext, config: SyncAccountConfig, salesforce: SalesforceResource,
                    platform: PlatformResource) -> dg.Output[int]:
    client = salesforce.get_client()
    with platform.open_store() as store:
        check_sections(client, store.settings)
        results = sync_account(client, Receiver(client, store), store.settings, config.account_id,
                               run_id=context.run_id)
    metadata: dict[str, int | float] = {}
    for result in results:
        metadata[f"{result.section}_records"] = result.fetched
        metadata[f"{result.section}_imported"] = result.counts.imported
        metadata[f"{result.section}_updated"] = result.counts.updated
    metadata["api_calls"] = client.api_calls.total
    total = sum(r.fetched for r in results)
    return dg.Output(total, metadata=metadata)


@dg.job(name="sync_account", description="Sync one account: give its Account Id in the run config (ops.receive_account.config).")
def sync_account_job() -> None:
    receive_account()
