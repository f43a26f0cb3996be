"""Which database the store opens, and concurrent applies of one model (serialized, counted once)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crm_sync.platform import PLATFORM_URL_ENV, ApplyCounts, PlatformStore, platform_url
from crm_sync.platform.engine import create_platform_engine
from crm_sync.settings import FieldMapping, Section, Settings
from crm_sync_tests.platform.helpers import account_row


def test_platform_url_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PLATFORM_URL_ENV, raising=False)
    monkeypatch.setenv("CRM_SYNC_DATA", str(tmp_path))
    assert platform_url() == f"sqlite:///{tmp_path / 'platform.db'}"
    monkeypatch.setenv(PLATFORM_URL_ENV, "postgresql://postgres@127.0.0.1:5432/elsewhere")
    assert platform_url() == "postgresql://postgres@127.0.0.1:5432/elsewhere"
    assert platform_url("sqlite:///given.db") == "sqlite:///given.db"


def test_default_store_opens_a_sqlite_file_under_the_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_settings: Settings) -> None:
    monkeypatch.delenv(PLATFORM_URL_ENV, raising=False)
    monkeypatch.setenv("CRM_SYNC_DATA", str(tmp_path / "data"))
    with PlatformStore(settings=default_settings) as store:
        store.write_record("company", {"name": "x"}, origin="system")
    assert (tmp_path / "data" / "platform.db").is_file()


def test_only_sqlite_and_postgres_with_psycopg2() -> None:
    with pytest.raises(ValueError, match="SQLite or Postgres"):
        create_platform_engine("mysql://localhost/db")
    with pytest.raises(ValueError, match="psycopg2"):
        create_platform_engine("postgresql+asyncpg://localhost/db")


def test_a_section_that_does_not_receive_refuses_pages(sqlite_url: str) -> None:
    send_only = Section(object="Lead", model="lead", direction="send",
                        fields=[FieldMapping(salesforce="LastName", column="last_name")])
    with PlatformStore(sqlite_url, Settings(sections=[send_only])) as store, \
            pytest.raises(ValueError, match="does not receive"):
        store.apply_page("Lead", [], modstamp_field="LastModifiedDate")


def test_concurrent_applies_of_one_page_count_it_once(platform_url: str, default_settings: Settings) -> None:
    page = [account_row(n) for n in range(1, 301)]
    with PlatformStore(platform_url, default_settings) as store, ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(
            lambda _: store.apply_page("Account", page, modstamp_field="LastModifiedDate"), range(2)))
    assert sorted(results, key=lambda c: c.imported) == [ApplyCounts(unchanged=300), ApplyCounts(imported=300)]
