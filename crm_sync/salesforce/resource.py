"""The Dagster resource that hands out SalesforceClients; the only Dagster code of this package.

Each field left unset (None) is read from its SALESFORCE_* environment variable when the client is
built, so secrets never enter run config. A field may also be given as `dagster.EnvVar("...")`,
which Dagster resolves at run time and likewise keeps out of run config. (An unset EnvVar fails the
run in Dagster, which is why the optional credentials are not EnvVar defaults.)
"""

from __future__ import annotations

import dagster as dg

from crm_sync.salesforce.client import SalesforceClient
from crm_sync.salesforce.config import SECRET_FIELDS, SalesforceConfig


class SalesforceResource(dg.ConfigurableResource):
    """Connection to the org (real Salesforce or the sandbox: same fields, same env vars)."""

    instance_url: str | None = None
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    domain: str | None = None
    ca_bundle: str | None = None
    api_version: str | None = None
    max_attempts: int = 5
    retry_base_delay: float = 0.5
    timeout_seconds: float = 120.0

    def __repr_args__(self):  # secrets never in repr, even when given as plain strings
        for name, value in super().__repr_args__():
            yield name, ("**********" if value is not None and name in SECRET_FIELDS else value)

    def salesforce_config(self) -> SalesforceConfig:
        """The SalesforceConfig: fields given here win over SALESFORCE_* environment variables."""
        return SalesforceConfig.from_env(
            instance_url=self.instance_url, username=self.username, password=self.password,
            security_token=self.security_token, client_id=self.client_id, client_secret=self.client_secret,
            domain=self.domain, ca_bundle=self.ca_bundle, api_version=self.api_version,
            max_attempts=self.max_attempts, retry_base_delay=self.retry_base_delay,
            timeout_seconds=self.timeout_seconds,
        )

    def get_client(self) -> SalesforceClient:
        """A new SalesforceClient (logs in on its first call)."""
        return SalesforceClient(self.salesforce_config())
