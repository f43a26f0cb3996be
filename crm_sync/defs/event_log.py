"""The embedded instance's event log: Dagster's SQLite event log, with its database files kept open.

Dagster's `SqliteEventLogStorage` (one SQLite file per run, plus an index file for asset events) creates a
new SQLAlchemy engine and connection for every event it writes, twice for asset events, and closes them
again; the last close checkpoints the WAL into the file. A full fetch of the demo's org writes about a
hundred events, so about 600 engines: the larger part of what Dagster adds to the run
(docs/architecture.md, bench/full_fetch.py).

`OpenSqliteEventLogStorage` changes only that: one engine per file, kept open while the process uses it
(at most `MAX_OPEN_FILES`, the least recently used closed first; a forked child opens its own). After each
transaction that wrote, a passive WAL checkpoint puts the rows into the `.db` file, as the close did before:
`dagster dev` follows a running run by watching that file, so the run page still updates live. Files,
schema, sharding, watching and migrations stay Dagster's. Production uses Postgres (dagster.postgres.yaml),
which pools its connections already.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

MAX_OPEN_FILES = 16  # a webserver reads many runs' files; a run writes two (its own and the index)


class OpenSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` that keeps one engine per shard file instead of one per statement."""

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False,
                                     description="default: history/runs in $DAGSTER_HOME, where Dagster keeps it")}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> OpenSqliteEventLogStorage:
        base_dir = (config_value or {}).get("base_dir")
        if not base_dir:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise dg.DagsterInvariantViolationError(
                    f"{cls.__name__} keeps its files in $DAGSTER_HOME/history/runs, but DAGSTER_HOME is not set: "
                    "set it to the instance's folder, or give the storage a base_dir")
            base_dir = os.path.join(home, "history", "runs", "")
        return cls(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn:
                changes_before = conn.connection.driver_connection.total_changes
                with conn.begin():
                    yield conn
                if conn.connection.driver_connection.total_changes != changes_before:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _engine(self, shard: str) -> Engine:
        """The open engine of one shard file (created, and the file initialized, on first use)."""
        engines = self._open_engines()
        engine = engines.get(shard)
        if engine is not None:
            engines.move_to_end(shard)
            return engine
        engine = create_engine(self.conn_string_for_shard(shard),
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        engines[shard] = engine
        while len(engines) > MAX_OPEN_FILES:
            engines.popitem(last=False)[1].dispose()
        return engine

    def _open_engines(self) -> OrderedDict[str, Engine]:
        """This process's engines; a forked child drops its parent's without closing them (they are the
        parent's connections)."""
        owner, engines = self.__dict__.get("_open", (None, None))
        if owner != os.getpid() or engines is None:
            for inherited in (engines or {}).values():
                inherited.dispose(close=False)
            engines = OrderedDict()
            self.__dict__["_open"] = (os.getpid(), engines)
        return engines

    def _close_engines(self) -> None:
        with self._db_lock:
            engines = self._open_engines()
            while engines:
                engines.popitem()[1].dispose()

    def delete_events(self, run_id: str) -> None:
        self._close_engines()
        super().delete_events(run_id)

    def wipe(self) -> None:
        self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()
