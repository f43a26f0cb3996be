"""Test helpers for health: a local webhook receiver, and a sandbox org with a platform store received from it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient, SalesforceConfig
from crm_sync.sandbox.process import SandboxInfo, running_sandbox
from crm_sync.settings import Settings
from crm_sync.sync.receive_run import receive_days

RECEIVED_DAYS = 200  # a few empty days per section cost little; years of them would
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "bulk_poll_interval": 0.02, "max_attempts": 2}


@dataclass
class Webhook:
    """What a local webhook receiver got: each POST's decoded JSON body, in order."""

    url: str
    posts: list[dict] = field(default_factory=list)

    def take(self) -> list[dict]:
        """The posts so far, forgetting them."""
        taken, self.posts[:] = list(self.posts), []
        return taken


@contextmanager
def webhook_receiver() -> Iterator[Webhook]:
    """A tiny HTTP server on 127.0.0.1 that records every POSTed JSON body and answers 200."""
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            hook.posts.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class HealthOrg:
    """A sandbox org, the env that reaches it and a platform database (SQLite file)."""

    info: SandboxInfo
    env: dict[str, str]
    platform_url: str
    data_dir: Path

    def client(self, **overrides: object) -> SalesforceClient:
        return SalesforceClient(SalesforceConfig.from_env(self.env, **{**FAST, **overrides}))

    def store(self, settings: Settings | None = None) -> PlatformStore:
        return PlatformStore(self.platform_url, settings, landing_root=self.data_dir / "landing")


@contextmanager
def health_org(tmp: Path, records: int = 200, seed: int = 5) -> Iterator[HealthOrg]:
    """A seeded sandbox and an empty platform database, with the environment variables crm_sync reads."""
    with running_sandbox(tmp / "org", records=records, seed=seed) as info:
        platform_url = f"sqlite:///{tmp / 'platform.db'}"
        env = {**info.env(), "CRM_SYNC_PLATFORM_URL": platform_url, "CRM_SYNC_DATA": str(tmp / "data")}
        yield HealthOrg(info, env, platform_url, tmp / "data")


@contextmanager
def environment(values: dict[str, str]) -> Iterator[pytest.MonkeyPatch]:
    """os.environ with `values` set, restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        yield patch


def receive_everything(org: HealthOrg, store: PlatformStore) -> None:
    """Receive every receiving section over the last RECEIVED_DAYS days (the seeded org's records all lie there)."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=RECEIVED_DAYS)
    client = org.client()
    for section in store.settings.enabled_sections():
        if section.receives:
            receive_days(client, store, section.object, first, today, incremental=False, run_id="test-full-fetch")
