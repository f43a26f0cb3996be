"""The Dagster resource: env-var driven, secrets out of run config, a working client inside an asset."""

from __future__ import annotations

import dagster as dg
import pytest

from crm_sync.salesforce import SalesforceClient
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo


def test_asset_uses_the_resource_without_secrets_in_run_config(
    sf_sandbox: SandboxInfo, sf_env: dict[str, str], sf_admin: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in sf_env.items():
        monkeypatch.setenv(var, value)

    @dg.asset
    def account_count(salesforce: SalesforceResource) -> int:
        client = salesforce.get_client()
        assert isinstance(client, SalesforceClient)
        return client.count("Account")

    resource = SalesforceResource(client_secret=dg.EnvVar("SALESFORCE_CLIENT_SECRET"), retry_base_delay=0.01)
    result = dg.materialize([account_count], resources={"salesforce": resource})
    assert result.success
    assert result.output_for_node("account_count") == sf_admin.counts()["Account"]
    shown = str(result.dagster_run.run_config) + repr(resource) + str(resource)
    for secret in (sf_sandbox.password, sf_sandbox.security_token, sf_sandbox.client_secret):
        assert secret not in shown
