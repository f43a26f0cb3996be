"""apply_page and mark_deleted on SQLite and Postgres: counting, modstamp rules, cursor, transactions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pyarrow as pa
import pytest
from sqlalchemy import event

from crm_sync.platform import ApplyCounts, CursorUpdate, PlatformStore
from crm_sync.platform import store as store_module
from crm_sync.platform.errors import ApplyError
from crm_sync.settings import Settings
from crm_sync_tests.platform.helpers import T0, account_id, account_row, at

LMD = "LastModifiedDate"
NEW = list(range(40_000, 41_000))


@pytest.fixture
def store(platform_url: str, default_settings: Settings) -> Iterator[PlatformStore]:
    with PlatformStore(platform_url, default_settings) as opened:
        yield opened


def apply(store: PlatformStore, rows, **kwargs) -> ApplyCounts:
    return store.apply_page("Account", rows, modstamp_field=kwargs.pop("modstamp_field", LMD), **kwargs)


@contextmanager
def failing_cursor_write(store: PlatformStore) -> Iterator[None]:
    """Every statement writing the sync cursor fails while the block runs (the rows before it were written)."""
    def fail_on_cursor(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "sync_cursor" in statement:
            raise RuntimeError("injected failure when the cursor is written")

    event.listen(store.engine, "before_cursor_execute", fail_on_cursor)
    try:
        yield
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_cursor)


def test_insert_then_unchanged(store: PlatformStore) -> None:
    rows = [account_row(n) for n in range(1, 4)]
    assert apply(store, rows) == ApplyCounts(imported=3)
    stored = store.get_record("Account", salesforce_id=account_id(2))
    assert stored["name"] == "Account 2" and stored["employees"] == 20 and stored["annual_revenue"] == 2001.0
    assert stored["origin"] == "salesforce" and stored["sync_status"] == "ok" and stored["deleted"] is False
    assert stored["sf_last_modified"] == T0 and stored["sf_last_modified"].tzinfo is not None
    assert apply(store, rows) == ApplyCounts(unchanged=3)


def test_newer_updates_older_is_skipped(store: PlatformStore) -> None:
    apply(store, [account_row(1, minutes=5), account_row(2, minutes=5)])
    counts = apply(store, [account_row(1, minutes=6, name="Renamed"), account_row(2, minutes=4, name="Stale")])
    assert counts == ApplyCounts(updated=1, skipped=1)
    assert store.get_record("company", salesforce_id=account_id(1))["name"] == "Renamed"
    assert store.get_record("company", salesforce_id=account_id(1))["sf_last_modified"] == at(6)
    stale = store.get_record("company", salesforce_id=account_id(2))
    assert stale["name"] == "Account 2" and stale["sf_last_modified"] == at(5)


def test_newer_but_equal_is_unchanged_not_rewritten(store: PlatformStore) -> None:
    apply(store, [account_row(1)])
    before = store.get_record("company", salesforce_id=account_id(1))
    assert apply(store, [account_row(1, minutes=10)]) == ApplyCounts(unchanged=1)
    after = store.get_record("company", salesforce_id=account_id(1))
    assert after["updated_at"] == before["updated_at"] and after["origin"] == before["origin"]
    assert after["sf_last_modified"] == at(10)  # the modstamp moves on, so an older version cannot win later
    assert apply(store, [account_row(1, minutes=5, name="Older")]) == ApplyCounts(skipped=1)


def test_system_modstamp_field_decides_when_chosen(store: PlatformStore) -> None:
    apply(store, [account_row(1)])
    automation = account_row(1, name="Automated", sf_system_modstamp=at(3))  # LastModifiedDate unchanged
    assert apply(store, [automation]) == ApplyCounts(skipped=1)
    assert apply(store, [automation], modstamp_field="SystemModstamp") == ApplyCounts(updated=1)
    stored = store.get_record("company", salesforce_id=account_id(1))
    assert stored["name"] == "Automated" and stored["sf_system_modstamp"] == at(3)


def test_send_only_column_is_never_overwritten(store: PlatformStore) -> None:
    apply(store, [account_row(1)])
    record_id = store.get_record("company", salesforce_id=account_id(1))["id"]
    store.write_record("company", {"health_score": 87.5}, origin="system", record_id=record_id)
    counts = apply(store, [account_row(1, minutes=1, name="New name", health_score=1.0)])
    assert counts == ApplyCounts(updated=1)
    stored = store.get_record("company", record_id=record_id)
    assert stored["health_score"] == 87.5 and stored["name"] == "New name"
    assert apply(store, [account_row(2, health_score=5.0)]) == ApplyCounts(imported=1)
    assert store.get_record("company", salesforce_id=account_id(2))["health_score"] is None


def test_columns_missing_from_the_page_are_kept(store: PlatformStore) -> None:
    apply(store, [account_row(1, website="https://acme.example")])
    partial = {"salesforce_id": account_id(1), "name": "Only name", "sf_last_modified": at(1)}
    assert apply(store, [partial]) == ApplyCounts(updated=1)
    stored = store.get_record("company", salesforce_id=account_id(1))
    assert stored["website"] == "https://acme.example" and stored["name"] == "Only name"
    assert stored["sf_system_modstamp"] == T0  # absent from the page: kept


def test_null_counts_as_a_value(store: PlatformStore) -> None:
    apply(store, [account_row(1)])
    assert apply(store, [account_row(1, minutes=1, industry=None)]) == ApplyCounts(updated=1)
    assert store.get_record("company", salesforce_id=account_id(1))["industry"] is None
    assert apply(store, [account_row(1, minutes=2, industry=None)]) == ApplyCounts(unchanged=1)


def test_arrow_page_with_salesforce_text_values(store: PlatformStore) -> None:
    page = pa.table({
        "salesforce_id": [account_id(1), account_id(2)],
        "name": ["A", "B"],
        "employees": ["12", ""],
        "annual_revenue": ["1.5", "2"],
        "sf_last_modified": ["2024-05-01T12:00:00.000+0000", "2024-05-01T14:00:00.000+02:00"],
    })
    assert apply(store, page) == ApplyCounts(imported=2)
    first = store.get_record("company", salesforce_id=account_id(1))
    second = store.get_record("company", salesforce_id=account_id(2))
    assert first["employees"] == 12 and first["annual_revenue"] == 1.5
    assert second["employees"] is None and second["sf_last_modified"] == T0


def test_repeated_id_in_a_page_keeps_the_newest(store: PlatformStore) -> None:
    rows = [account_row(1, minutes=2, name="newest"), account_row(1, minutes=1, name="older"), account_row(2)]
    assert apply(store, rows) == ApplyCounts(imported=2)
    assert store.get_record("company", salesforce_id=account_id(1))["name"] == "newest"


def test_a_column_the_section_does_not_map_is_an_error(store: PlatformStore) -> None:
    with pytest.raises(ValueError, match="does not map: colour"):
        apply(store, [account_row(1, colour="red")])
    with pytest.raises(ValueError, match="without salesforce_id"):
        apply(store, [account_row(1, salesforce_id=None)])


def test_cursor_advances_with_the_page_and_never_moves_back(store: PlatformStore) -> None:
    assert store.get_cursor("Account", LMD) is None
    day = date(2024, 5, 1)
    apply(store, [account_row(1)], cursor=CursorUpdate(at(10), partition_day=day, window_start=at(-10)))
    assert store.get_cursor("Account", LMD) == at(10)
    assert store.get_cursor("company", "SystemModstamp") is None
    apply(store, [], cursor=CursorUpdate(at(5), partition_day=day, window_start=at(-20)))  # an older window
    assert store.get_cursor("Account", LMD) == at(10)
    window = store.get_partition_window("Account", LMD, day)
    assert (window.window_start, window.window_end) == (at(-10), at(10))
    apply(store, [], cursor=CursorUpdate(at(20), partition_day=day, window_start=at(10)))
    assert store.get_cursor("Account", LMD) == at(20)
    assert store.get_partition_window("Account", LMD, day).window_end == at(20)


def test_failing_page_changes_neither_rows_nor_cursor(store: PlatformStore) -> None:
    apply(store, [account_row(1)], cursor=CursorUpdate(at(1)))

    with failing_cursor_write(store), pytest.raises(RuntimeError, match="injected"):
        apply(store, [account_row(1, minutes=5, name="Changed"), account_row(2, minutes=5)],
              cursor=CursorUpdate(at(5)))
    assert store.count_records("Account") == 1
    assert store.get_record("company", salesforce_id=account_id(1))["name"] == "Account 1"
    assert store.get_cursor("Account", LMD) == at(1)
    # the same page applies cleanly afterwards (no staging table left behind)
    assert apply(store, [account_row(1, minutes=5, name="Changed"), account_row(2, minutes=5)],
                 cursor=CursorUpdate(at(5))) == ApplyCounts(imported=1, updated=1)
    assert store.get_cursor("Account", LMD) == at(5)


def test_a_page_above_one_transaction_moves_the_cursor_only_with_its_last_part(
        store: PlatformStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large page is written in short transactions (SQLite's write lock stays free for a user's edit); it
    stays due until its last part is applied, and applying it again finds the applied parts unchanged."""
    monkeypatch.setattr(store_module, "APPLY_ROWS_PER_TRANSACTION", 2)
    page = [account_row(n, minutes=5) for n in range(1, 6)]

    with failing_cursor_write(store), pytest.raises(RuntimeError, match="injected"):
        apply(store, page, cursor=CursorUpdate(at(5)))  # the cursor moves in the last part only
    assert store.count_records("Account") == 4  # two parts of two rows each were committed
    assert store.get_cursor("Account", LMD) is None  # the page is still due

    commits: list[object] = []

    def count_commit(conn) -> None:  # noqa: ANN001
        commits.append(conn)

    event.listen(store.engine, "commit", count_commit)
    try:
        assert apply(store, page, cursor=CursorUpdate(at(5))) == ApplyCounts(imported=1, unchanged=4)
    finally:
        event.remove(store.engine, "commit", count_commit)
    assert len(commits) == 3
    assert store.get_cursor("Account", LMD) == at(5)


def test_deleted_rows_in_a_page(store: PlatformStore) -> None:
    apply(store, [account_row(1), account_row(2)])
    counts = apply(store, [account_row(1, minutes=3, deleted=True), account_row(9, minutes=3, deleted=True)])
    assert counts == ApplyCounts(deleted=1, skipped=1)  # Id 9 was never in the platform: nothing to mark
    stored = store.get_record("company", salesforce_id=account_id(1))
    assert stored["deleted"] is True and stored["deleted_at"] == at(3)
    assert store.get_record("company", salesforce_id=account_id(9)) is None
    assert apply(store, [account_row(1, minutes=4)]) == ApplyCounts(updated=1)  # undeleted in Salesforce
    assert store.get_record("company", salesforce_id=account_id(1))["deleted"] is False


def test_mark_deleted_keeps_rows(store: PlatformStore) -> None:
    apply(store, [account_row(n) for n in range(1, 4)])
    ids = [account_id(1), account_id(2), account_id(77)]
    assert store.mark_deleted("Account", ids, at(30)) == 2
    assert store.mark_deleted("Account", ids, at(31)) == 0
    assert store.count_records("Account") == 3
    assert store.count_records("Account", include_deleted=False) == 1
    stored = store.get_record("company", salesforce_id=account_id(1))
    assert stored["deleted"] is True and stored["deleted_at"] == at(30) and stored["origin"] == "salesforce"
    # a version older than the delete (e.g. a replayed page) does not bring the row back
    assert apply(store, [account_row(1, minutes=20, name="Old")]) == ApplyCounts(skipped=1)
    assert store.get_record("company", salesforce_id=account_id(1))["deleted"] is True


def test_empty_page_only_moves_the_cursor(store: PlatformStore) -> None:
    assert apply(store, [], cursor=CursorUpdate(at(3))) == ApplyCounts()
    assert store.get_cursor("Account", LMD) == at(3)


def test_receive_only_section(store: PlatformStore) -> None:
    row = {"salesforce_id": "5008a0000000001AAA", "subject": "Broken", "closed": "false",
           "opened_at": "2024-05-01T11:00:00.000Z", "sf_last_modified": T0}
    assert store.apply_page("Case", [row], modstamp_field=LMD) == ApplyCounts(imported=1)
    stored = store.get_record("ticket", salesforce_id="5008a0000000001AAA")
    assert stored["closed"] is False and stored["opened_at"] == at(-60)


def test_an_apply_error_names_section_record_and_column_and_writes_nothing(
        postgres_url: str, default_settings: Settings) -> None:
    """Postgres refuses a value of the page: the error says where, and no row of the page lands."""
    with PlatformStore(postgres_url, default_settings) as store:
        bad_id = account_id(2) + "X"  # 19 characters: longer than a Salesforce Id column holds
        good, bad = account_row(1), account_row(2, salesforce_id=bad_id)
        with pytest.raises(ApplyError) as raised:
            apply(store, [good, bad], cursor=CursorUpdate(upper_bound=at(10)))
        message = str(raised.value)
        assert "section Account" in message and bad_id in message and "column salesforce_id" in message
        assert (raised.value.salesforce_id, raised.value.column) == (bad_id, "salesforce_id")
        assert store.count_records("company") == 0 and store.get_cursor("Account", LMD) is None


@pytest.mark.parametrize("order", ["by Id", "by modstamp"])
def test_a_page_reads_the_model_table_through_its_salesforce_id_index(platform_url: str, order: str,
                                                                      default_settings: Settings) -> None:
    """Each statement joining the staged page to the model table finds model rows through the table's
    salesforce_id index, one look-up per staged row, never by reading the whole model table (or the part of
    it the page's Ids span): a read of the table per page made a full fetch quadratic on Postgres, and an
    update of a few records cost a scan of the model table on SQLite. A page in modstamp order (a Bulk job
    without Id ranges) spans nearly every Id: on Postgres a join bounded by the span read every model row."""
    plans: list[str] = []
    numbers = list(range(40_000))
    if order == "by modstamp":
        random.Random(3).shuffle(numbers)
    sqlite = platform_url.startswith("sqlite")

    def explain(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if not executemany and statement.lstrip().startswith(("UPDATE", "SELECT t.id")) and "company AS t" in statement:
            cursor.execute(f"EXPLAIN {'QUERY PLAN ' if sqlite else ''}{statement}", parameters)
            plans.append("\n".join(str(row[-1]) for row in cursor.fetchall()))

    with PlatformStore(platform_url, default_settings) as store:
        for first in range(0, 40_000, 10_000):  # a model table that has grown through earlier pages
            apply(store, [account_row(n) for n in numbers[first:first + 10_000]])
        event.listen(store.engine, "before_cursor_execute", explain)
        counts = apply(store, [account_row(n, minutes=1, name=f"New {n}") for n in numbers[39_000:] + NEW]
                       + [account_row(n, minutes=1, name=f"Renamed {n}") for n in numbers[:39_000:1_000]])
    assert counts == ApplyCounts(imported=1_000, updated=1_039)
    assert len(plans) >= 2  # the classification and the rewrite
    for plan in plans:
        lines = plan.splitlines()
        if sqlite:
            assert not any(line.startswith("SCAN t") or (line.startswith("SEARCH t ") and "salesforce_id>" in line)
                           for line in lines), plan
        else:
            assert not any(read in line for line in lines for read in (
                "Seq Scan on company", "Bitmap Heap Scan on company", "Hash Join", "Merge Join")), plan
