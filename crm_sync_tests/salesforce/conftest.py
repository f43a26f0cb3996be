"""One seeded sandbox org for the Salesforce client tests, and clients configured from its env vars.

The client is built exactly as in production: `SalesforceConfig.from_env(...)` over the SALESFORCE_*
variables the sandbox hands out; only the retry and polling delays are shortened.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from crm_sync.salesforce import SalesforceClient, SalesforceConfig
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo, running_sandbox

SEED_RECORDS = 2000
DAILY_LIMIT = 5_000_000
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "bulk_poll_interval": 0.02, "max_attempts": 4}

ClientFactory = Callable[..., SalesforceClient]


@dataclass(frozen=True)
class EarlyChanges:
    at: datetime
    deleted_account_id: str


@pytest.fixture(scope="session")
def sf_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    with running_sandbox(tmp_path_factory.mktemp("salesforce-org"), records=SEED_RECORDS, seed=3) as info:
        yield info


@pytest.fixture(scope="session")
def sf_admin(sf_sandbox: SandboxInfo) -> SandboxAdmin:
    return sf_sandbox.admin


@pytest.fixture(scope="session")
def sf_env(sf_sandbox: SandboxInfo) -> dict[str, str]:
    return sf_sandbox.env()


@pytest.fixture(scope="session")
def make_client(sf_env: dict[str, str]) -> ClientFactory:
    """Build a client from the sandbox's env vars; `drop` removes variables, keywords override settings."""

    def make(drop: tuple[str, ...] = (), env: dict[str, str] | None = None, **overrides: object) -> SalesforceClient:
        environ = {k: v for k, v in {**sf_env, **(env or {})}.items() if k not in drop}
        return SalesforceClient(SalesforceConfig.from_env(environ, **{**FAST, **overrides}))

    return make


@pytest.fixture(scope="session")
def early_changes(sf_admin: SandboxAdmin) -> EarlyChanges:
    """An Account deleted as soon as the org is up.

    The `deleted` resource covers whole minutes up to the org's current one only (as Salesforce), so its
    test shifts the org's clock past this delete's minute.
    """
    account_id = sf_admin.create_record("Account", {"Name": "Early delete"})
    sf_admin.delete_record("Account", account_id)
    return EarlyChanges(datetime.now(UTC), account_id)


@pytest.fixture(scope="session")
def client(make_client: ClientFactory, early_changes: EarlyChanges) -> SalesforceClient:
    """A shared client (OAuth password grant with the sandbox's full env)."""
    return make_client()


@pytest.fixture(autouse=True)
def _org_back_to_normal(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults and the API limit back to normal after each test that used the sandbox."""
    admin = request.getfixturevalue("sf_admin") if "sf_sandbox" in request.fixturenames else None
    yield
    if admin is not None:
        admin.clear_faults()
        admin.set_limits(daily_api_requests=DAILY_LIMIT)


@pytest.fixture
def marker() -> str:
    """A unique text to name this test's records by."""
    return f"t{uuid.uuid4().hex[:10]}"
