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


@pytest.fixture(autouse=True)
def _own_dagster_home_and_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """DAGSTER_HOME and CRM_SYNC_DATA of every test: empty directories of its own, never the one `make` exports (the tests run on
    several pytest-xdist workers at once). A test that needs a configured instance sets its own."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path_factory.mktemp("dagster_home")))
    # likewise the data directory (landing files, the demo's sections): `make` exports the repo's own
    monkeypatch.setenv("CRM_SYNC_DATA", str(tmp_path_factory.mktemp("crm_sync_data")))


# The modules that take the longest (a minute or more each on the 2-core CI machine), longest first. pytest-xdist
# gives each worker whole modules (`--dist loadfile`, pyproject's addopts) in collection order, so these start
# first and the many short modules fill the workers around them; otherwise the run ends waiting for one of them.
SLOWEST_MODULES = (
    "e2e/test_ui.py",
    "faults/test_fault_suite.py",
    "faults/test_fault_suite_randomized.py",
    "defs/test_parallel_runs.py",
    "defs/test_receive_defs.py",
    "faults/test_issue9_scenarios.py",
    "defs/test_health.py",
    "defs/test_postgres_instance.py",
    "sync/test_receive.py",
    "sync/test_catch_up.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The SLOWEST_MODULES' tests first (in that order), every other test after them in its usual order."""
    tests_root = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        module = item.path.relative_to(tests_root).as_posix() if item.path.is_relative_to(tests_root) else ""
        return SLOWEST_MODULES.index(module) if module in SLOWEST_MODULES else len(SLOWEST_MODULES)

    items.sort(key=rank)  # stable: the order within a module and among the other modules stays
