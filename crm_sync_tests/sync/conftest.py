"""Fixtures of the sync tests: one seeded sandbox org per module, a client for it, fast sync settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.salesforce.config import SalesforceConfig
from crm_sync.sandbox.process import SandboxInfo, running_sandbox
from crm_sync.settings import Settings, load_settings
from crm_sync.sync.receive import Receiver
from crm_sync.sync.windows import Window

SEED_RECORDS = 1500


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxInfo]:
    with running_sandbox(records=SEED_RECORDS, seed=11) as info:
        yield info


def fast_settings(base: Settings | None = None, **defaults: object) -> Settings:
    """Sections with no settle time (tests need not wait) and small REST pages; `defaults` override more."""
    base = base or load_settings()
    values = {"settle_seconds": 0, "query_page_size": 200, **defaults}
    return base.model_copy(update={"defaults": base.defaults.model_copy(update=values)})


def make_client(info: SandboxInfo, **overrides: object) -> SalesforceClient:
    """A client configured from the sandbox's SALESFORCE_* variables, with quick retries."""
    overrides = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, **overrides}
    return SalesforceClient(SalesforceConfig.from_env(info.env(), **overrides))


@pytest.fixture
def client(sandbox: SandboxInfo) -> SalesforceClient:
    return make_client(sandbox)


@pytest.fixture
def settings() -> Settings:
    return fast_settings()


@pytest.fixture
def store(platform_url: str, settings: Settings, tmp_path) -> Iterator[PlatformStore]:
    with PlatformStore(platform_url, settings, landing_root=tmp_path / "landing") as opened:
        yield opened


@pytest.fixture
def receiver(client: SalesforceClient, store: PlatformStore) -> Receiver:
    return Receiver(client, store)


def all_history(now: datetime | None = None) -> Window:
    """A window over every record the org holds."""
    return Window(datetime(1970, 1, 1, tzinfo=UTC), now or datetime.now(UTC))


def receive_all(receiver: Receiver, modstamp_field: str = "LastModifiedDate") -> dict[str, object]:
    """Receive every receiving section over all history; results by object."""
    window = all_history()
    return {s.object: receiver.receive_window(s, window, modstamp_field=modstamp_field)
            for s in receiver.store.settings.enabled_sections() if s.receives}
