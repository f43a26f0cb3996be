"""One sandbox server for the whole test session (a few thousand seeded records), and clients for it.

Tests that change org-wide state (faults, limits, sessions) restore it; tests that write records
make their own (names carry a per-test marker) and check counts themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo, running_sandbox

SEED_RECORDS = 5000


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxInfo]:
    with running_sandbox(records=SEED_RECORDS, seed=7) as info:
        yield info


@pytest.fixture(scope="session")
def admin(sandbox: SandboxInfo) -> SandboxAdmin:
    return sandbox.admin


@pytest.fixture(scope="session")
def sf(sandbox: SandboxInfo):
    """simple-salesforce logged in with SOAP (username, password + security token)."""
    return sandbox.salesforce()


@pytest.fixture
def clean_org_state(admin: SandboxAdmin) -> Iterator[None]:
    """Faults and API limits back to normal after the test."""
    yield
    admin.clear_faults()
    admin.set_limits(daily_api_requests=5_000_000)


@pytest.fixture
def marker() -> str:
    """A unique text to name this test's records by."""
    return f"t{uuid.uuid4().hex[:10]}"
