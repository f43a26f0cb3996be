"""Staging a page on SQLite: a scratch file per part, written ahead, attached for the apply, always removed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from crm_sync.platform import ApplyCounts, CursorUpdate, PlatformStore, staging
from crm_sync.platform.errors import ApplyError, apply_errors_named
from crm_sync.platform.store import APPLY_ROWS_PER_TRANSACTION
from crm_sync.settings import Settings
from crm_sync_tests.platform.helpers import account_row, at

LMD = "LastModifiedDate"
PART = APPLY_ROWS_PER_TRANSACTION


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory staging files go to, for this test alone."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def store(tmp_path: Path, default_settings: Settings) -> Iterator[PlatformStore]:
    with PlatformStore(f"sqlite:///{tmp_path / 'platform.db'}", default_settings) as opened:
        yield opened


def test_a_page_of_several_parts_is_applied_and_leaves_no_staging_file(store: PlatformStore, scratch: Path) -> None:
    rows = [account_row(n) for n in range(2 * PART + 500)]
    counts = store.apply_page("Account", rows, modstamp_field=LMD, cursor=CursorUpdate(upper_bound=at(10)))
    assert counts == ApplyCounts(imported=len(rows))
    assert store.count_records("company") == len(rows) and store.get_cursor("Account", LMD) == at(10)
    assert list(scratch.iterdir()) == []
    with store.engine.connect() as conn:  # the apply's connection is back in the pool with nothing attached
        assert [row[1] for row in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]


def test_a_failed_part_keeps_the_parts_before_it_and_leaves_no_staging_file(store: PlatformStore,
                                                                           scratch: Path) -> None:
    """The second of three parts fails while the third is staged ahead: the first stays applied (the page
    stays due: no cursor), the second rolls back, and neither staged file is left behind."""
    inserts = []

    def fail_second_insert(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.startswith("INSERT INTO company"):
            inserts.append(statement)
            if len(inserts) == 2:
                raise RuntimeError("injected failure in the second part")

    event.listen(store.engine, "before_cursor_execute", fail_second_insert)
    with pytest.raises(RuntimeError, match="second part"):
        store.apply_page("Account", [account_row(n) for n in range(3 * PART)], modstamp_field=LMD,
                         cursor=CursorUpdate(upper_bound=at(10)))
    event.remove(store.engine, "before_cursor_execute", fail_second_insert)
    assert store.count_records("company") == PART and store.get_cursor("Account", LMD) is None
    assert list(scratch.iterdir()) == []
    with store.engine.connect() as conn:
        assert [row[1] for row in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]
    counts = store.apply_page("Account", [account_row(n) for n in range(3 * PART)], modstamp_field=LMD,
                              cursor=CursorUpdate(upper_bound=at(10)))
    assert counts == ApplyCounts(imported=2 * PART, unchanged=PART)


def test_staged_values_are_what_sqlalchemy_stores(scratch: Path) -> None:
    """Datetimes and dates as fixed-width text, booleans as 0/1, numbers as numbers, nulls as NULL, in
    columns declared as the model's are."""
    columns = [sa.Column("salesforce_id", sa.String(18), primary_key=True), sa.Column("seen", sa.DateTime()),
                sa.Column("day", sa.Date()), sa.Column("deleted", sa.Boolean, nullable=False),
                sa.Column("amount", sa.Double()), sa.Column("count", sa.BigInteger()), sa.Column("note", sa.Text)]
    data = pa.table({
        "salesforce_id": ["001A", "001B"],
        "seen": pa.array([datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
        "day": pa.array([date(2024, 5, 1), None], pa.date32()),
        "deleted": [True, False], "amount": [1.5, None], "count": pa.array([7, None], pa.int64()),
        "note": ["a", None]})
    staged = staging.write_sqlite_stage("crm_stage_test", columns, data)
    try:
        with sqlite3.connect(staged.path) as conn:
            rows = conn.execute("SELECT salesforce_id, seen, day, deleted, amount, count, note FROM crm_stage_test "
                                "ORDER BY salesforce_id").fetchall()
        assert rows == [("001A", "2024-05-01 12:00:01.000000", "2024-05-01", 1, 1.5, 7, "a"),
                        ("001B", None, None, 0, None, None, None)]
        assert staged.table.schema == staging.SQLITE_STAGE_SCHEMA and staged.table.name == "crm_stage_test"
    finally:
        staged.remove()
    assert list(scratch.iterdir()) == []


def test_a_staging_file_that_cannot_be_written_is_an_apply_error_and_is_removed(scratch: Path,
                                                                                default_settings: Settings) -> None:
    columns = [sa.Column("salesforce_id", sa.String(18), primary_key=True),
               sa.Column("deleted", sa.Boolean, nullable=False)]
    twice = pa.table({"salesforce_id": ["001A", "001A"], "deleted": [False, False]})  # the key twice
    with pytest.raises(ApplyError, match="section Account"), \
            apply_errors_named(default_settings.section("Account"), twice):
        staging.write_sqlite_stage("crm_stage_test", columns, twice)
    assert list(scratch.iterdir()) == []


def test_staged_ahead_writes_the_next_file_while_this_one_is_used_and_removes_every_file(scratch: Path) -> None:
    started = {n: threading.Event() for n in range(3)}

    def stage(n: int) -> staging.StageFile:
        started[n].set()
        path = scratch / f"part-{n}.db"
        path.write_text(str(n))
        return staging.StageFile(path, sa.Table(f"part_{n}", sa.MetaData()))

    seen = []
    for staged in staging.staged_ahead(stage, [0, 1, 2]):
        number = int(staged.path.read_text())
        if number < 2:  # the next part is being written while this one is in use
            assert started[number + 1].wait(timeout=10)
        seen.append(number)
    assert seen == [0, 1, 2] and list(scratch.iterdir()) == []

    stopping = staging.staged_ahead(stage, [0, 1, 2])
    next(stopping)
    stopping.close()  # the caller stops early: this file and the one ahead are removed
    assert list(scratch.iterdir()) == []

    def second_fails(n: int) -> staging.StageFile:
        if n == 1:
            raise ValueError("part 1 cannot be staged")
        return stage(n)

    failing = staging.staged_ahead(second_fails, [0, 1, 2])
    assert next(failing).path.name == "part-0.db"
    with pytest.raises(ValueError, match="part 1"):
        next(failing)
    assert list(scratch.iterdir()) == []


def test_the_staging_files_of_a_process_that_is_gone_are_removed(scratch: Path) -> None:
    """A process killed during an apply leaves its staging files; the next one that stages removes them, and
    never the files of a process still running."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    orphan = scratch / f"{staging.STAGE_PREFIX}{gone}-abc.db"
    running = scratch / f"{staging.STAGE_PREFIX}{os.getppid()}-abc.db"
    unrelated = scratch / "crm-sync-stage-notes.txt"
    for path in (orphan, running, unrelated):
        path.write_text("x")
    staging._swept.discard(str(scratch))
    staged = staging.write_sqlite_stage("crm_stage_test", [sa.Column("salesforce_id", sa.String(18))],
                                        pa.table({"salesforce_id": ["001A"]}))
    staged.remove()
    assert sorted(p.name for p in scratch.iterdir()) == sorted([running.name, unrelated.name])
