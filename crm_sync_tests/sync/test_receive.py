"""Receive acceptance: full fetch, incremental by each modstamp, deletes, commit lag, broken runs, filters,
send-only fields and replay from the landing; on SQLite and Postgres against the sandbox over HTTPS."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.settings import Section
from crm_sync.sync.changes import find_changes
from crm_sync.sync.receive import Receiver
from crm_sync.sync.windows import Window
from crm_sync_tests.sync.conftest import all_history, fast_settings, make_client, receive_all
from crm_sync_tests.sync.receive_helpers import mismatches, platform_rows


def _incremental(receiver: Receiver, section: Section, field: str):
    today = datetime.now(UTC).date()
    window = receiver.plan_window(section, today, today, incremental=True, modstamp_field=field)
    return receiver.receive_window(section, window, modstamp_field=field)


def _new_account(sandbox: SandboxInfo, name: str) -> str:
    return sandbox.admin.create_record("Account", {"Name": name, "Industry": "Energy"})


def test_full_fetch_brings_every_field_of_every_section(sandbox, receiver, store) -> None:
    results = receive_all(receiver)
    for section in store.settings.enabled_sections():
        if section.receives:
            assert mismatches(sandbox, store, section) == [], section.object
            assert store.get_cursor(section, "LastModifiedDate") is not None
    assert results["Contact"].counts.imported > 0
    assert results["Contact"].api == "rest" and results["Contact"].pages > 1

    again = receive_all(receiver)  # nothing changed: nothing is rewritten
    assert all(r.counts.updated == 0 and r.counts.imported == 0 for r in again.values())


def test_bulk_path_gives_the_same_platform_as_rest(sandbox, client, platform_url, tmp_path) -> None:
    bulk_settings = fast_settings(bulk_threshold=1)
    with PlatformStore(platform_url, bulk_settings, landing_root=tmp_path / "landing") as store:
        results = receive_all(Receiver(client, store))
        assert results["Contact"].api == "bulk"
        for section in store.settings.enabled_sections():
            if section.receives:
                assert mismatches(sandbox, store, section) == [], section.object


def test_bulk_over_id_ranges_in_streamed_pages_gives_the_same_platform(sandbox, client, platform_url,
                                                                       tmp_path) -> None:
    # Contact as three Id-range jobs, two prepared at a time, each read in pages of 50 records
    split = fast_settings(bulk_threshold=1, bulk_range_records=200, receive_page_records=50, bulk_jobs_in_flight=2)
    section = split.section("Contact")
    with PlatformStore(platform_url, split, landing_root=tmp_path / "landing") as store:
        expected = client.count("Contact", include_deleted=True)
        before = client.api_calls.snapshot()
        result = Receiver(client, store).receive_window(section, all_history(), modstamp_field="LastModifiedDate")
        spent = (client.api_calls.snapshot() - before).by_purpose
        parts = -(-expected // 200)
        assert result.api == "bulk" and result.fetched == expected
        assert spent["bulk_query"] == parts and spent["bulk_query_results"] == parts and spent["composite"] == 1
        assert result.pages >= -(-expected // 50)
        assert mismatches(sandbox, store, section) == []
        assert store.count_records(section) == expected  # no record twice, none missing


def test_incremental_standard_takes_api_edits_not_automation(sandbox, receiver, store) -> None:
    receive_all(receiver)
    receive_all(receiver, "SystemModstamp")
    section = store.settings.section("Account")
    marker = uuid.uuid4().hex[:8]
    live = [i for i, r in platform_rows(store, section).items() if not r["deleted"]]
    edited, automated, deleted = live[:3]
    sandbox.admin.update_record("Account", edited, {"Website": f"https://{marker}.example.com"})
    sandbox.admin.run_automation("Account", ids=[automated], changes={"Description": f"flow {marker}"})
    sandbox.admin.delete_record("Account", deleted)
    created = _new_account(sandbox, f"New Co {marker}")
    time.sleep(0.01)

    standard = _incremental(receiver, section, "LastModifiedDate")
    rows = platform_rows(store, section)
    assert rows[edited]["website"] == f"https://{marker}.example.com"
    assert rows[automated]["description"] != f"flow {marker}"
    assert rows[deleted]["deleted"] is True  # marked, never removed
    assert rows[created]["name"] == f"New Co {marker}"
    assert standard.counts.imported == 1 and standard.counts.deleted == 1 and standard.counts.updated == 1

    system = _incremental(receiver, section, "SystemModstamp")
    assert platform_rows(store, section)[automated]["description"] == f"flow {marker}"
    assert system.counts.updated >= 1
    assert store.count_records(section, include_deleted=True) == len(platform_rows(store, section))


def test_commit_lag_record_still_arrives(sandbox, receiver, store) -> None:
    section = store.settings.section("Account")
    receive_all(receiver)
    sandbox.admin.set_faults(commit_lag_s=2)
    try:
        late = sandbox.salesforce().Account.create({"Name": "Late Committer"})["id"]
    finally:
        sandbox.admin.set_faults(commit_lag_s=0)
    first = _incremental(receiver, section, "LastModifiedDate")  # the cursor passes the late record's modstamp
    assert late not in platform_rows(store, section)
    assert first.cursor is not None
    time.sleep(2.2)
    changes = {c.section: c for c in find_changes(receiver.client, store, [section],
                                                  modstamp_field="LastModifiedDate")}
    assert changes["Account"].late == 1 and changes["Account"].due
    _incremental(receiver, section, "LastModifiedDate")
    assert platform_rows(store, section)[late]["name"] == "Late Committer"
    assert late in {i for i in platform_rows(store, section)}


def test_broken_run_then_rerun_ends_like_an_unbroken_run(sandbox, client, store, platform_url, tmp_path,
                                                          request) -> None:
    section = store.settings.section("Contact")
    window = Window(datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC))
    total = client.count("Contact", include_deleted=True)
    # the request for the third page (rows 400..) fails past the retries; pages one and two arrived
    sandbox.admin.add_fault("-400", "503", count=50)
    try:
        broken = Receiver(make_client(sandbox, max_attempts=2), store)
        try:
            broken.receive_window(section, window, modstamp_field="LastModifiedDate")
            raise AssertionError("the injected faults should have broken the run")
        except Exception as exc:  # noqa: BLE001 - the client's error type is what the run would see
            assert "503" in str(exc) or "SERVER_UNAVAILABLE" in str(exc)
    finally:
        sandbox.admin.clear_faults()
    assert store.get_cursor(section, "LastModifiedDate") is None  # the cursor moves only with the last page
    assert 0 < store.count_records(section) < total  # a part was applied, page by page

    Receiver(client, store).receive_window(section, window, modstamp_field="LastModifiedDate")
    backend = "sqlite" if platform_url.startswith("sqlite") else "postgres"
    other_url = (f"sqlite:///{tmp_path / 'unbroken.db'}" if backend == "sqlite"
                 else request.getfixturevalue("postgres_url"))
    with PlatformStore(other_url, store.settings, landing_root=tmp_path / "unbroken") as other:
        Receiver(client, other).receive_window(section, window, modstamp_field="LastModifiedDate")
        keep = ["salesforce_id", *[f.column for f in section.receive_fields()], "deleted"]
        broken_rows = sorted(tuple(r[k] for k in keep) for r in platform_rows(store, section).values())
        clean_rows = sorted(tuple(r[k] for k in keep) for r in platform_rows(other, section).values())
        assert broken_rows == clean_rows
    assert len(platform_rows(store, section)) == store.count_records(section)  # nothing twice


def test_filter_and_send_only_field(sandbox, client, platform_url, tmp_path) -> None:
    base = fast_settings()
    sections = [s.model_copy(update={"filter": "Industry = 'Technology'"}) if s.object == "Account" else s
                for s in base.sections]
    settings = base.model_copy(update={"sections": sections})
    with PlatformStore(platform_url, settings, landing_root=tmp_path / "landing") as store:
        receiver = Receiver(client, store)
        section = store.settings.section("Account")
        receive_all(receiver)
        rows = platform_rows(store, section)
        assert rows and all(r["industry"] == "Technology" for r in rows.values())
        assert mismatches(sandbox, store, section) == []

        target = next(iter(rows))
        store.write_record(section, {"health_score": 77.5}, origin="system", record_id=rows[target]["id"])
        sandbox.admin.update_record("Account", target, {"Health_Score__c": 1.0, "Website": "https://x.example"})
        _incremental(receiver, section, "LastModifiedDate")
        after = platform_rows(store, section)[target]
        assert after["website"] == "https://x.example"
        assert after["health_score"] == 77.5  # send-only: receive never overwrites it


def test_replay_from_landing_needs_no_api_call(sandbox, client, store) -> None:
    section = store.settings.section("Case")
    window = Window(datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC))
    receiver = Receiver(client, store)
    original_apply = store.apply_page
    store.apply_page = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("database went away"))  # type: ignore
    try:
        receiver.receive_window(section, window, modstamp_field="LastModifiedDate")
        raise AssertionError("the apply should have failed")
    except RuntimeError:
        pass
    finally:
        store.apply_page = original_apply  # type: ignore[method-assign]
    assert store.count_records(section) == 0 and store.pages_to_replay(section)
    calls = client.api_calls.total
    counts = receiver.replay_landed(section)
    assert client.api_calls.total == calls
    assert counts.imported == store.count_records(section) > 0
    assert not store.pages_to_replay(section)


def test_receive_counts_match_the_sandbox_per_window(sandbox, receiver, store) -> None:
    """Counts through a day-partition window equal a COUNT() over the same window in the sandbox."""
    section = store.settings.section("Task")
    today = datetime.now(UTC).date()
    day = today - timedelta(days=3)
    window = receiver.plan_window(section, day, day, incremental=False, modstamp_field="LastModifiedDate")
    result = receiver.receive_window(section, window, modstamp_field="LastModifiedDate")
    count = receiver.client.count("Task", f"LastModifiedDate >= {window.start.strftime('%Y-%m-%dT%H:%M:%SZ')} "
                                          f"AND LastModifiedDate < {window.end.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    assert result.fetched == count
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(store.table(section))).scalar_one()
    assert stored == result.counts.imported
