"""The Dagster resource that hands out SalesforceClients; the only Dagster code of this package.

`SalesforceResource.from_env()` (what crm_sync's definitions use) sets each field whose SALESFORCE_*
variable is set as `dagster.EnvVar("SALESFORCE_...")`: Dagster resolves it at run time, keeps the value out
of run config, and the UI's resource page shows the variable's name, never its value. A field left unset
(None) is still read from its variable when the client is built. (An unset EnvVar fails the run in
Dagster, which is why a variable that is not set at load time is not made an EnvVar.)

Inside Dagster (a run, a sensor or schedule evaluation) the resource is a fresh copy set up for that
execution: `get_client()` then hands every step of it the same client, so a run of nine assets logs in and
describes each object once, as a plain-Python sync does; the client is closed at the execution's end.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg
from pydantic import PrivateAttr

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

    _shared: bool = PrivateAttr(default=False)  # set up by Dagster for one execution
    _client: SalesforceClient | None = PrivateAttr(default=None)

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

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._shared = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def get_client(self) -> SalesforceClient:
        """The execution's one SalesforceClient (created, logging in on its first call, at the first request)
        when Dagster set this resource up; a new client on each call when the resource is used directly.
        API-call counts stay per step: callers take differences of `client.api_calls`."""
        if not self._shared:
            return SalesforceClient(self.salesforce_config())
        if self._client is None:
            self._client = SalesforceClient(self.salesforce_config())
        return self._client
