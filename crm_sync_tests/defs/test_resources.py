"""The resources as the UI sees them: each setting names its environment variable (EnvVar), no secret's value."""

from __future__ import annotations

import dagster as dg
from dagster._core.remote_representation.external_data import RepositorySnap, ResourceConfigEnvVarSnap
from dagster._serdes import serialize_value

from crm_sync.definitions import build_definitions
from crm_sync.defs.resources import PlatformResource, default_resources
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.settings import Settings


def test_the_ui_shows_which_variable_each_setting_comes_from_and_no_secret(
        crm_env: Settings, sandbox: SandboxInfo) -> None:
    snap = RepositorySnap.from_def(build_definitions(crm_env).get_repository_def())  # what the UI is sent
    shown = {r.name: r.configured_values for r in snap.resources}
    snapshot = serialize_value(snap)
    salesforce = shown["salesforce"]
    for field, var in (("instance_url", "SALESFORCE_INSTANCE_URL"), ("username", "SALESFORCE_USERNAME"),
                       ("password", "SALESFORCE_PASSWORD"), ("client_secret", "SALESFORCE_CLIENT_SECRET")):
        assert salesforce[field] == ResourceConfigEnvVarSnap(name=var), field
    assert shown["platform"]["url"] == ResourceConfigEnvVarSnap(name="CRM_SYNC_PLATFORM_URL")
    assert shown["platform"]["sections_path"] == ResourceConfigEnvVarSnap(name="CRM_SYNC_SECTIONS")
    for secret in (sandbox.password, sandbox.security_token, sandbox.client_secret):
        assert secret not in snapshot


def test_a_variable_unset_at_load_is_no_envvar_so_runs_do_not_fail_on_it(monkeypatch) -> None:
    for var in ("SALESFORCE_SECURITY_TOKEN", "CRM_SYNC_SECTIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SALESFORCE_USERNAME", "integration@example.com")
    resources = default_resources()
    assert resources["salesforce"].security_token is None
    assert resources["salesforce"].username == dg.EnvVar("SALESFORCE_USERNAME")
    assert resources["platform"].sections_path == ""


def test_the_steps_of_one_run_share_one_client_one_store_and_one_sections_read(crm_env: Settings) -> None:
    seen: list[tuple[object, ...]] = []

    def use(salesforce: SalesforceResource, platform: PlatformResource) -> None:
        client, store = salesforce.get_client(), platform.open_store()
        with store:  # as the receive assets use it: closing returns connections, the store stays usable
            assert store.count_records(crm_env.receiving_sections()[0].model) >= 0
        seen.append((client, store, platform.settings()))

    @dg.asset
    def first(salesforce: SalesforceResource, platform: PlatformResource) -> None:
        use(salesforce, platform)

    @dg.asset(deps=[first])
    def second(salesforce: SalesforceResource, platform: PlatformResource) -> None:
        use(salesforce, platform)

    resources = default_resources()
    assert dg.materialize([first, second], resources=resources).success
    assert dg.materialize([first], resources=resources).success
    (client, store, settings), again, next_run = seen
    assert again[0] is client and again[1] is store and again[2] is settings
    assert next_run[0] is not client and next_run[1] is not store  # nothing outlives its run (describe cache)
    assert store.settings == crm_env
    direct = SalesforceResource()  # used outside Dagster (its fields read SALESFORCE_* when unset)
    assert direct.get_client() is not direct.get_client()
