"""Fixtures of the Dagster-level tests: a sandbox org, fast sections in a file, and the env pointing at both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from crm_sync.sandbox.process import SandboxInfo, running_sandbox
from crm_sync.settings import Settings, load_settings
from crm_sync_tests.sync.conftest import fast_settings


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxInfo]:
    with running_sandbox(records=1200, seed=5) as info:
        yield info


def write_sections(settings: Settings, path: Path) -> Path:
    """The settings as a sections YAML file (what CRM_SYNC_SECTIONS points at)."""
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return path


@pytest.fixture
def crm_env(sandbox: SandboxInfo, platform_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """SALESFORCE_* for the sandbox, the platform URL, a data dir and fast sections, set in the environment."""
    settings = fast_settings()
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRM_SYNC_PLATFORM_URL", platform_url)
    monkeypatch.setenv("CRM_SYNC_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_SYNC_SECTIONS", str(write_sections(settings, tmp_path / "sections.yaml")))
    return load_settings()
