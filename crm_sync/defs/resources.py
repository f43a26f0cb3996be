"""Dagster resources: the Salesforce connection and the platform store, both configured from the environment."""

from __future__ import annotations

import dagster as dg

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Settings, load_settings


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
    """The resources every crm_sync job uses; everything else comes from environment variables."""
    return {"salesforce": SalesforceResource(), "platform": PlatformResource()}
