"""A page's rows in a staging table, which the apply's SQL joins to the model table.

- Postgres: a TEMPORARY table of the apply's transaction, filled with COPY ... CSV (dropped on commit).
- SQLite: a table in a scratch database file of its own (`write_sqlite_stage`), written straight from Arrow
  by the ADBC SQLite driver (no Python object per value: a third of what executemany costs per row), the
  next part's on a thread while this one is applied (`staged_ahead`: ADBC frees the GIL), ATTACHed to the
  apply's connection before its transaction begins (SQLite refuses ATTACH inside one), and DETACHed and
  deleted after it ends (`engine.write_transaction(attach=)`). Staging outside the transaction also keeps
  SQLite's single write lock free for that long.

A process killed during an apply leaves its files; the next process that stages removes the files of
processes that are gone (`remove_orphans`). A file is open in one SQLite library at a time: ADBC's own
copy of SQLite has closed it before Python's opens it (two copies of SQLite holding one file in one
process would release each other's POSIX locks).
The staging database keeps no journal: it is scratch, thrown away after the apply whatever its outcome.
Both ways the staged values are what SQLAlchemy would store: datetimes and dates as SQLite's fixed-width
text, booleans as 0/1, into columns declared with the same types (so the same affinities).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from crm_sync.platform.types import ARROW_TIMESTAMP

SQLITE_STAGE_SCHEMA = "crm_stage"  # the alias a staging file is attached under
STAGE_PREFIX = "crm-sync-stage-"  # + the writing process's id: crm-sync-stage-<pid>-<random>.db
_swept: set[str] = set()  # temporary directories this process has already rid of orphans
T = TypeVar("T")


def create_temporary(conn: Connection, name: str, columns: Sequence[sa.Column]) -> sa.Table:
    """A temporary table for one transaction (Postgres drops it on commit)."""
    table = sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
    table.create(conn)
    return table


def copy_into(conn: Connection, table: sa.Table, data: pa.Table) -> None:
    """Bulk-load an Arrow table (columns named like the table's) into a Postgres table with COPY."""
    if data.num_rows == 0:
        return
    quote = conn.dialect.identifier_preparer.quote
    buffer = io.BytesIO()
    pa_csv.write_csv(data, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"))
    buffer.seek(0)
    column_list = ", ".join(quote(n) for n in data.column_names)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(f"COPY {quote(table.name)} ({column_list}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


@dataclass(frozen=True)
class StageFile:
    """A scratch SQLite file holding a page's staging table; `table` names it as the apply reads it once the
    file is attached under SQLITE_STAGE_SCHEMA."""

    path: Path
    table: sa.Table

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def write_sqlite_stage(name: str, columns: Sequence[sa.Column], data: pa.Table) -> StageFile:
    """A new scratch file with `data` in table `name` declared by `columns` (the caller removes it)."""
    remove_orphans()
    handle, path_text = tempfile.mkstemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", suffix=".db")
    os.close(handle)
    path = Path(path_text)
    try:
        table = sa.Table(name, sa.MetaData(), *columns)
        ddl = str(sa.schema.CreateTable(table).compile(dialect=sqlite.dialect()))
        with adbc_sqlite.connect(str(path), autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute(ddl)
            if data.num_rows:
                cursor.execute("BEGIN")
                cursor.adbc_ingest(name, sqlite_columns(data), mode="append")
                cursor.execute("COMMIT")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StageFile(path, table.to_metadata(sa.MetaData(), schema=SQLITE_STAGE_SCHEMA))


def staged_ahead(stage: Callable[[T], StageFile], items: Sequence[T]) -> Iterator[StageFile]:
    """`stage` of each item in order, the next one written on a thread of its own while the caller works with
    this one (ADBC frees the GIL while it writes). Each file is removed once the caller moves on, and every
    file left is removed when the caller stops early or fails."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-sync-stage") as pool:
        ahead: Future[StageFile] | None = pool.submit(stage, items[0]) if items else None
        try:
            for index in range(len(items)):
                assert ahead is not None
                current = ahead.result()
                ahead = pool.submit(stage, items[index + 1]) if index + 1 < len(items) else None
                try:
                    yield current
                finally:
                    current.remove()
        finally:
            if ahead is not None:
                with contextlib.suppress(BaseException):
                    ahead.result().remove()


def remove_orphans() -> None:
    """Remove the staging files of processes that are gone (killed during an apply: nothing else removes
    them), once per process and temporary directory."""
    folder = tempfile.gettempdir()
    if folder in _swept:
        return
    _swept.add(folder)
    for path in Path(folder).glob(f"{STAGE_PREFIX}*-*.db"):
        pid = path.name[len(STAGE_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sqlite_columns(data: pa.Table) -> pa.Table:
    """`data` with datetimes and dates as the fixed-width text SQLAlchemy stores in SQLite (UTC wall time,
    six fractional digits; a cast is ten times faster than strftime)."""
    columns = []
    for column in data.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(ARROW_TIMESTAMP).cast(pa.timestamp("us")).cast(pa.string())
        elif pa.types.is_date(column.type):
            column = column.cast(pa.string())
        columns.append(column)
    return pa.table(columns, names=data.column_names)
