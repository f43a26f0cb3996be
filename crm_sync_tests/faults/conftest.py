"""Fixtures of the fault-suite modules: one sandbox org per module, and suites on it for the test's database.

Each fault-suite module gets its own org, so the modules can run on different pytest-xdist workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_sync.sandbox.process import SandboxInfo, running_sandbox
from crm_sync_tests.faults.harness import FaultSuite, FaultSuiteConfig

SEED = int(os.environ.get("CRM_SYNC_FAULT_SEED", "9"))


@pytest.fixture(scope="module")
def fault_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """One sandbox for the module; every suite resets and seeds it again."""
    with running_sandbox(tmp_path_factory.mktemp("fault-org"), records=0) as info:
        yield info


@pytest.fixture
def suite_factory(fault_sandbox: SandboxInfo, platform_url: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator:
    monkeypatch.setenv("CRM_SYNC_KEY_NAMESPACE", f"fz{tmp_path.name[-8:]}")
    made: list[FaultSuite] = []

    def make(**settings) -> FaultSuite:
        suite = FaultSuite(FaultSuiteConfig(**{"records": 120, "seed": SEED, **settings}), fault_sandbox,
                           platform_url, tmp_path / f"suite{len(made)}")
        made.append(suite)
        return suite

    yield make
    for suite in made:
        suite.close()
    fault_sandbox.admin.clear_faults()
    fault_sandbox.admin.set_clock_offset(0)
