"""Dagster resources: the Salesforce connection and the platform store, both configured from the environment.

Each setting whose environment variable is set is given as `dagster.EnvVar(NAME)`, so the UI shows which
variable it comes from (and never a secret's value); unset ones fall back to their defaults."""

from __future__ import annotations

import os

import dagster as dg

from crm_sync.platform import PlatformStore
from crm_sync.platform.engine import PLATFORM_URL_ENV
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Settings, load_settings
from crm_sync.settings.loader import SECTIONS_ENV


class PlatformResource(dg.ConfigurableResource):
    """The platform database. Empty fields fall back to CRM_SYNC_PLATFORM_URL / CRM_SYNC_SECTIONS / defaults."""

    url: str = ""
    sections_path: str = ""

    def settings(self) -> Settings:
        return load_settings(self.sections_path or None)

    def open_store(self) -> PlatformStore:
        """A store on the configured database, its schema created or migrated."""
        return PlatformStore(self.url or None, self.settings())


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources every crm_sync job uses, their settings as EnvVars of the variables that are set."""
    platform = {field: dg.EnvVar(var) for field, var in (("url", PLATFORM_URL_ENV), ("sections_path", SECTIONS_ENV))
                if os.environ.get(var, "").strip()}
    return {"salesforce": SalesforceResource.from_env(), "platform": PlatformResource(**platform)}
