"""Dagster resources: the Salesforce connection and the platform store, both configured from the environment.

Each setting whose environment variable is set is given as `dagster.EnvVar(NAME)`, so the UI shows which
variable it comes from (and never a secret's value); unset ones fall back to their defaults.

Set up by Dagster for one execution (a run, a sensor or schedule evaluation), `PlatformResource` reads the
sections file once and opens (and migrates) the store once, and every step of that execution uses them, as a
plain-Python sync does; used directly, each call reads and opens anew."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import PrivateAttr

from crm_sync.platform import PlatformStore
from crm_sync.platform.engine import PLATFORM_URL_ENV
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Settings, load_settings
from crm_sync.settings.loader import SECTIONS_ENV


class PlatformResource(dg.ConfigurableResource):
    """The platform database. Empty fields fall back to CRM_SYNC_PLATFORM_URL / CRM_SYNC_SECTIONS / defaults."""

    url: str = ""
    sections_path: str = ""

    _shared: bool = PrivateAttr(default=False)  # set up by Dagster for one execution
    _settings: Settings | None = PrivateAttr(default=None)
    _store: PlatformStore | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._shared = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
        self._store = self._settings = None

    def settings(self) -> Settings:
        """The sync sections (read once per Dagster execution)."""
        if not self._shared:
            return load_settings(self.sections_path or None)
        if self._settings is None:
            self._settings = load_settings(self.sections_path or None)
        return self._settings

    def open_store(self) -> PlatformStore:
        """A store on the configured database, its schema created or migrated. Within a Dagster execution it
        is the execution's one store: closing it (`with ... as store`) only returns its pooled connections,
        and the next step opens new ones on the same, already migrated, database."""
        if not self._shared:
            return PlatformStore(self.url or None, self.settings())
        if self._store is None:
            self._store = PlatformStore(self.url or None, self.settings())
        return self._store


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources every crm_sync job uses, their settings as EnvVars of the variables that are set."""
    platform = {field: dg.EnvVar(var) for field, var in (("url", PLATFORM_URL_ENV), ("sections_path", SECTIONS_ENV))
                if os.environ.get(var, "").strip()}
    return {"salesforce": SalesforceResource.from_env(), "platform": PlatformResource(**platform)}
