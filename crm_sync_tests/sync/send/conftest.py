"""Fixtures of the send tests: one small sandbox org for the session, a fresh platform store per test
(SQLite and Postgres, via `platform_url`), clients built from the sandbox's env vars, and helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient, SalesforceConfig
from crm_sync.salesforce import soql as soql_lib
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo, running_sandbox
from crm_sync.settings import Settings, default_sections_path
from crm_sync.settings.loader import settings_from_data
from crm_sync.sync.receive import Receiver
from crm_sync.sync.windows import Window

SEED_RECORDS = 500
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "bulk_poll_interval": 0.02, "max_attempts": 4}


@pytest.fixture(scope="session")
def send_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    with running_sandbox(tmp_path_factory.mktemp("send-org"), records=SEED_RECORDS, seed=11) as info:
        yield info


@pytest.fixture(scope="session")
def admin(send_sandbox: SandboxInfo) -> SandboxAdmin:
    return send_sandbox.admin


@pytest.fixture
def client(send_sandbox: SandboxInfo, admin: SandboxAdmin) -> Iterator[SalesforceClient]:
    """A fresh client (its own API call count); faults and rules are cleared after the test."""
    made = SalesforceClient(SalesforceConfig.from_env(send_sandbox.env(), **FAST))
    yield made
    admin.clear_faults()
    admin.clear_rules()
    made.close()


def settings_with(change: Callable[[dict], None] | None = None) -> Settings:
    """The default sections, optionally changed (on the parsed YAML) by `change`."""
    data = yaml.safe_load(default_sections_path().read_text(encoding="utf-8"))
    if change is not None:
        change(data)
    return settings_from_data(data)


def section_data(data: dict, obj: str) -> dict:
    return next(s for s in data["sections"] if s["object"] == obj)


@pytest.fixture
def store(platform_url: str) -> Iterator[PlatformStore]:
    with PlatformStore(platform_url, settings_with()) as opened:
        yield opened


@pytest.fixture
def marker() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def receive_ids(client: SalesforceClient, store: PlatformStore, obj: str, ids: list[str]) -> None:
    """Bring these Salesforce records into the platform through the receive side."""
    Receiver(client, store).receive_where(store.section(obj), soql_lib.id_in(ids),
                                          modstamp_field="LastModifiedDate")


def receive_recent(client: SalesforceClient, store: PlatformStore, obj: str) -> None:
    """The receive run of a section for a window covering now (what brings a push's echo back)."""
    now = datetime.now(UTC)
    Receiver(client, store).receive_window(store.section(obj), Window(now - timedelta(minutes=10),
                                                                       now + timedelta(minutes=1)),
                                           modstamp_field="LastModifiedDate")


def sf_records(client: SalesforceClient, obj: str, where: str, fields: str = "Id") -> list[dict[str, Any]]:
    return list(client.query_records(f"SELECT {fields} FROM {obj} WHERE {where}"))


def some_ids(client: SalesforceClient, obj: str, count: int, where: str = "Id != null") -> list[str]:
    return [r["Id"] for r in client.query_records(f"SELECT Id FROM {obj} WHERE {where} ORDER BY Id LIMIT {count}")]


def later(hours: float = 2) -> datetime:
    """A time past every backoff and lease, to claim rows as if the wait were over."""
    return datetime.now(UTC) + timedelta(hours=hours)


@pytest.fixture(autouse=True)
def key_namespace(monkeypatch: pytest.MonkeyPatch, marker: str) -> str:
    """Each test's platform database gets its own external-key namespace (platform ids restart at 1)."""
    monkeypatch.setenv("CRM_SYNC_KEY_NAMESPACE", marker)
    return marker
