"""Shared fixtures: a platform database URL on SQLite and on Postgres, and the default sync sections.

`platform_url` is parametrized: every test that uses it runs once on a SQLite file and once on a fresh
Postgres database (127.0.0.1:5432, user postgres, trust auth), created for the test and dropped after it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from crm_sync.settings import Settings, load_settings

POSTGRES_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def _admin_execute(statement: str) -> None:
    connection = psycopg2.connect(**POSTGRES_ADMIN)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "crm_sync_test") -> Iterator[str]:
    """The URL of a new, empty Postgres database; dropped on exit (its connections closed by force)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin_execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://{POSTGRES_ADMIN['user']}@{POSTGRES_ADMIN['host']}:{POSTGRES_ADMIN['port']}/{name}"
    finally:
        _admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty Postgres database for one test; dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'platform.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def platform_url(request: pytest.FixtureRequest) -> str:
    """The platform database URL, once for SQLite and once for Postgres."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def default_settings() -> Settings:
    """The sync sections shipped with the package."""
    return load_settings()
