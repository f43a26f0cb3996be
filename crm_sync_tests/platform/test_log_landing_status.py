"""Sync log, raw landing + manifest, and record send status, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from crm_sync.platform import ApplyCounts, CursorUpdate, PlatformStore
from crm_sync.settings import Settings
from crm_sync_tests.platform.helpers import T0, account_row, at

DAY = date(2024, 5, 1)


@pytest.fixture
def store(platform_url: str, default_settings: Settings, tmp_path: Path) -> Iterator[PlatformStore]:
    with PlatformStore(platform_url, default_settings, landing_root=tmp_path / "landing") as opened:
        yield opened


def test_sync_log_round_trip_and_filters(store: PlatformStore) -> None:
    store.log_event("sync_started", section="Account", run_id="run-1", at=at(0))
    store.log_event("records_imported", section="company", run_id="run-1", count=12, at=at(1),
                    details={"window": [at(-10).isoformat(), at(0).isoformat()], "api": "rest"})
    store.log_event("health_check", details={"check": "credentials", "passed": True}, at=at(2))
    store.log_event("sync_completed", section="Contact", run_id="run-2", at=at(3))

    everything = store.read_log()
    assert [e.event for e in everything] == ["sync_started", "records_imported", "health_check", "sync_completed"]
    imported = everything[1]
    assert imported.section == "Account" and imported.count == 12 and imported.details["api"] == "rest"
    assert imported.at == at(1)
    assert [e.event for e in store.read_log("Account")] == ["sync_started", "records_imported"]
    assert [e.event for e in store.read_log(since=at(2))] == ["health_check", "sync_completed"]
    assert [e.section for e in store.read_log(run_id="run-2")] == ["Contact"]
    assert [e.count for e in store.read_log(event="records_imported")] == [12]
    with pytest.raises(ValueError, match="unknown sync log event"):
        store.log_event("records_exploded")


def page_table(*numbers: int) -> pa.Table:
    return pa.Table.from_pylist([account_row(n) for n in numbers])


def test_land_page_writes_parquet_and_the_manifest(store: PlatformStore, tmp_path: Path) -> None:
    table = page_table(1, 2, 3)
    path = store.land_page("Account", DAY, table, page_no=1, run_id="run/7", window_start=at(-10),
                           window_end=at(0), modstamp_field="LastModifiedDate")
    assert path == str(tmp_path / "landing" / "Account" / "2024-05-01" / "run_7-00001.parquet")
    assert Path(path).is_file() and store.read_landed_page(path).equals(table)
    [pending] = store.pages_to_replay("Account")
    assert (pending.day, pending.page_no, pending.rows, pending.run_id) == (DAY, 1, 3, "run/7")
    assert (pending.window_start, pending.window_end, pending.applied) == (at(-10), at(0), False)

    again = store.land_page("Account", DAY, page_table(1, 2), page_no=1, run_id="run/7")  # a retried fetch
    assert again == path and [p.rows for p in store.pages_to_replay()] == [2]


def test_apply_marks_the_landed_page_applied_in_its_transaction(store: PlatformStore) -> None:
    first = store.land_page("Account", DAY, page_table(1), page_no=1, run_id="r")
    second = store.land_page("Account", DAY, page_table(2), page_no=2, run_id="r")

    def fail(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "landing_manifest" in statement and statement.lstrip().upper().startswith("UPDATE"):
            raise RuntimeError("injected")

    event.listen(store.engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(RuntimeError):
            store.apply_page("Account", store.read_landed_page(second), modstamp_field="LastModifiedDate",
                             landed_path=second)
    finally:
        event.remove(store.engine, "before_cursor_execute", fail)
    assert store.count_records("Account") == 0

    counts = store.apply_page("Account", store.read_landed_page(first), modstamp_field="LastModifiedDate",
                              landed_path=first, cursor=CursorUpdate(at(1), DAY))
    assert counts == ApplyCounts(imported=1)
    assert [p.path for p in store.pages_to_replay("Account", day=DAY)] == [str(second)]
    replayed = [store.apply_page("Account", store.read_landed_page(p.path), modstamp_field="LastModifiedDate",
                                 landed_path=p.path) for p in store.pages_to_replay()]
    assert replayed == [ApplyCounts(imported=1)]
    assert store.pages_to_replay() == [] and store.count_records("Account") == 2


def test_sync_status_on_the_record(store: PlatformStore) -> None:
    record_id = store.write_record("end_user", {"first_name": "No", "last_name": "Email"}, origin="user")
    store.set_sync_status("Contact", record_id, "skipped:no_email")  # by object name or model name
    assert [r["id"] for r in store.records_with_status("end_user", "skipped")] == [record_id]
    store.set_sync_status("end_user", record_id, "ok", salesforce_id="0038a0000000001AAA")
    record = store.get_record("end_user", record_id=record_id)
    assert (record["sync_status"], record["salesforce_id"], record["sync_error"]) == ("ok", "0038a0000000001AAA", None)
    assert len(store.outbox_entries("end_user")) == 1  # bookkeeping writes are not changes
    with pytest.raises(ValueError, match="sync_status"):
        store.set_sync_status("end_user", record_id, "weird")
    with pytest.raises(KeyError):
        store.set_sync_status("end_user", record_id + 1000, "ok")


def test_write_record_rules(store: PlatformStore) -> None:
    with pytest.raises(ValueError, match="origin"):
        store.write_record("company", {"name": "x"}, origin="robot")
    with pytest.raises(ValueError, match="no writable column"):
        store.write_record("company", {"sync_status": "ok"}, origin="user")
    with pytest.raises(KeyError):
        store.write_record("company", {"name": "x"}, origin="user", record_id=999)
    record_id = store.write_record("company", {"name": "Gone", "deleted": True}, origin="user")
    stored = store.get_record("company", record_id=record_id)
    assert stored["deleted"] is True and stored["deleted_at"] is not None
    assert stored["updated_at"] - stored["deleted_at"] < timedelta(seconds=1)
    assert stored["updated_at"].utcoffset() == timedelta(0)
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        store.write_record("ticket", {"opened_at": T0.replace(tzinfo=None)}, origin="user")
