"""The Dagster resource that hands out SalesforceClients; the only Dagster code of this package.

`SalesforceResource.from_env()` (what crm_sync's definitions use) sets each field whose SALESFORCE_*
variable is set as `dagster.EnvVar("SALESFORCE_...")`: Dagster resolves it at run time, keeps the value out
of run config, and the UI's resource page shows the variable's name, never its value. A field left unset
(None) is still read from its variable when the client is built. (An unset EnvVar fails the run in
Dagster, which is why a variable that is not set at load time is not made an EnvVar.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from crm_sync.salesforce.client import SalesforceClient
from crm_sync.salesforce.config import ENV_VARS, SECRET_FIELDS, SalesforceConfig


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **fields: object) -> SalesforceResource:
        """Every field whose SALESFORCE_* variable is set (non-empty) in `environ`, as an EnvVar of it."""
        environ = os.environ if environ is None else environ
        env_fields = {name: dg.EnvVar(var) for name, var in ENV_VARS.items() if environ.get(var, "").strip()}
        return cls(**{**env_fields, **fields})

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
