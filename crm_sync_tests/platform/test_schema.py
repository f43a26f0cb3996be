"""Schema creation and migration at open, on SQLite and Postgres."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.platform.migrate import SchemaVersionError
from crm_sync.platform.schema import SCHEMA_VERSION, PlatformSchema
from crm_sync.settings import RESERVED_COLUMNS, RESERVED_MODELS, FieldMapping, Settings


def columns_of(store: PlatformStore, table: str) -> dict[str, dict]:
    return {c["name"]: c for c in sa.inspect(store.engine).get_columns(table)}


def test_open_creates_every_table(platform_url: str, default_settings: Settings) -> None:
    with PlatformStore(platform_url, default_settings) as store:
        tables = set(sa.inspect(store.engine).get_table_names())
        assert {s.model for s in default_settings.sections} <= tables
        assert tables >= RESERVED_MODELS
        company = columns_of(store, "company")
        mapped = [f.column for f in default_settings.section("Account").fields]
        bases = {c + "__base" for c in default_settings.section("Account").base_columns()}
        assert set(mapped) | RESERVED_COLUMNS | bases == set(company)
        assert "health_score__base" in bases and "owner_email__base" not in bases
        assert company["id"]["nullable"] is False and company["salesforce_id"]["nullable"] is True
        unique = sa.inspect(store.engine).get_unique_constraints("company")
        assert any(u["column_names"] == ["salesforce_id"] for u in unique)


def test_internal_table_names_are_reserved_models() -> None:
    assert {t.name for t in PlatformSchema("sqlite").internal_tables} == RESERVED_MODELS


def test_reopen_is_idempotent_and_records_the_version(platform_url: str, default_settings: Settings) -> None:
    with PlatformStore(platform_url, default_settings) as first:
        assert first.last_migration.applied_versions == list(range(1, SCHEMA_VERSION + 1))
        assert sorted(first.last_migration.triggers_installed) == ["company", "end_user", "note", "task"]
    with PlatformStore(platform_url, default_settings) as second:
        changes = second.last_migration
        assert changes.created_tables == [] and changes.added_columns == [] and changes.applied_versions == []
        assert changes.triggers_installed == []  # already matching: no DDL on the model tables
        with second.engine.connect() as conn:
            versions = conn.execute(sa.select(second.schema.schema_version.c.version)).scalars().all()
        assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_newly_mapped_field_becomes_a_column_and_data_is_kept(platform_url: str, default_settings: Settings) -> None:
    with PlatformStore(platform_url, default_settings) as store:
        record_id = store.write_record("company", {"name": "Acme"}, origin="user")

    account = default_settings.section("Account")
    extended = account.model_copy(update={"fields": [
        *account.fields,
        FieldMapping(salesforce="Rating", column="rating"),
        FieldMapping(salesforce="Tier__c", column="tier_rank", type="integer"),
    ]})
    settings = Settings(sections=[extended if s is account else s for s in default_settings.sections])
    with PlatformStore(platform_url, settings) as store:
        assert sorted(store.last_migration.added_columns) == [
            "company.rating", "company.rating__base", "company.tier_rank", "company.tier_rank__base"]
        assert {"rating", "tier_rank"} <= set(columns_of(store, "company"))
        store.write_record("company", {"rating": "Hot", "tier_rank": 2}, origin="user", record_id=record_id)
        row = store.get_record("company", record_id=record_id)
        assert (row["name"], row["rating"], row["tier_rank"]) == ("Acme", "Hot", 2)


def test_a_newer_schema_version_is_refused(platform_url: str, default_settings: Settings) -> None:
    with PlatformStore(platform_url, default_settings) as store, store.engine.begin() as conn:
        conn.execute(store.schema.schema_version.insert().values(version=SCHEMA_VERSION + 1, description="future"))
    with pytest.raises(SchemaVersionError, match="newer"):
        PlatformStore(platform_url, default_settings)


def test_sqlite_connection_settings(sqlite_url: str, default_settings: Settings) -> None:
    with PlatformStore(sqlite_url, default_settings) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_postgres_sessions_use_utc(postgres_url: str, default_settings: Settings) -> None:
    with PlatformStore(postgres_url, default_settings) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "UTC"
