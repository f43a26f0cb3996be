"""Which platform database, and a SQLAlchemy engine for it (SQLite file or Postgres, by URL).

SQLite connections run in WAL mode with foreign keys on, a busy timeout, `synchronous=NORMAL` and
temporary storage (sorts, transient indexes) in memory; an apply's staging table is a file of its own,
attached for its transaction (`write_transaction(attach=)`, staging.py);
transactions are begun by SQLAlchemy (not by the driver), and `write_transaction()` begins with
`BEGIN IMMEDIATE` so a writer holds the write lock from its first statement. Postgres sessions use UTC.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

PLATFORM_URL_ENV = "CRM_SYNC_PLATFORM_URL"
DATA_DIR_ENV = "CRM_SYNC_DATA"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "crm_sync_write"


def data_dir() -> Path:
    """The local data directory: $CRM_SYNC_DATA, else ./data."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def platform_url(url: str | None = None) -> str:
    """The platform database URL: the one given, else $CRM_SYNC_PLATFORM_URL, else <data dir>/platform.db."""
    if url:
        return url
    from_env = os.environ.get(PLATFORM_URL_ENV)
    if from_env:
        return from_env
    return f"sqlite:///{(data_dir() / 'platform.db').resolve()}"


def create_platform_engine(url: str) -> Engine:
    """An engine for a SQLite or Postgres URL, with the connection settings the store relies on."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        # The store loads pages with psycopg2's COPY; a plain postgresql:// URL means psycopg2.
        if parsed.get_driver_name() not in ("psycopg2", "psycopg2cffi") and "+" in parsed.drivername:
            raise ValueError(f"the platform store needs the psycopg2 driver, not {parsed.drivername!r}")
        parsed = parsed.set(drivername="postgresql+psycopg2")
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
    raise ValueError(f"the platform database must be SQLite or Postgres, not {parsed.get_backend_name()!r}")


def _sqlite_engine(url: sa.URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI objects
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _on_begin)
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine, *, attach: Mapping[str, Path] | None = None) -> Iterator[Connection]:
    """A connection inside one transaction meant to write: committed on success, rolled back on error.

    `attach` (SQLite only): schema name -> database file, attached before the transaction begins (SQLite
    refuses ATTACH inside one) and detached after it ends, without a journal of its own (scratch files).
    """
    with engine.connect() as connection:
        attached = _attach(connection, attach or {})
        try:
            connection.execution_options(**{_WRITE_OPTION: True})
            with connection.begin():
                yield connection
        finally:
            _detach(connection, attached)


def _attach(connection: Connection, files: Mapping[str, Path]) -> list[str]:
    """ATTACH each file under its schema name on the connection's own DBAPI connection (outside any
    transaction: pysqlite runs in autocommit, see _on_connect); the names attached."""
    if files and connection.dialect.name != "sqlite":
        raise ValueError("only SQLite attaches database files")
    dbapi = connection.connection.dbapi_connection
    attached = []
    try:
        for schema, path in files.items():
            if not schema.isidentifier():
                raise ValueError(f"not a schema name: {schema!r}")
            dbapi.execute(f"ATTACH DATABASE ? AS {schema}", (str(path),))
            attached.append(schema)
            dbapi.execute(f"PRAGMA {schema}.journal_mode=OFF")
            dbapi.execute(f"PRAGMA {schema}.synchronous=OFF")
    except BaseException:
        _detach(connection, attached)
        raise
    return attached


def _detach(connection: Connection, schemas: list[str]) -> None:
    """DETACH the files attached; a connection that cannot is discarded (never pooled still holding one),
    and the error that ended the transaction, if any, is the one raised."""
    try:
        for schema in schemas:
            connection.connection.dbapi_connection.execute(f"DETACH DATABASE {schema}")
    except Exception:  # noqa: BLE001 - the connection is dropped instead
        connection.invalidate()
