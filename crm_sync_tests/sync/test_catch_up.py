"""Issue 9, defects 1, 2, 10 and 14: what a receive tick catches up on, on SQLite and Postgres.

Ticks run as the 10-minute job runs them: `plan_tick` decides the partitions, then each due partition is
received incrementally (`receive_days`, the asset's body; with a clock, the same steps through `Receiver`).
A pause or a midnight is made with the clocks the entry points take; the sandbox keeps real time. The tests
each failed on the code before its fix.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crm_sync.platform import PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.settings import Section
from crm_sync.sync.preflight import SyncSetupError
from crm_sync.sync.receive import Receiver
from crm_sync.sync.receive_run import receive_days
from crm_sync.sync.ticks import TickPlan, plan_tick
from crm_sync.sync.windows import day_start
from crm_sync_tests.sync.conftest import all_history, fast_settings
from crm_sync_tests.sync.receive_helpers import mismatches, platform_rows

FIELD = "LastModifiedDate"
# Columns every row had before: a mark of "left the filter" must be another one.
KNOWN_TIMES = {"updated_at", "sf_last_modified", "sf_system_modstamp", "sf_sent_modstamp"}


def _tick(client: SalesforceClient, store: PlatformStore, section: Section,
          now: datetime | None = None) -> TickPlan:
    """One scheduled tick for one section: plan, then receive each due partition incrementally.

    Without `now` it runs what the Dagster asset runs (`receive_days`); with `now`, the same steps through a
    Receiver on that clock.
    """
    plan = plan_tick(client, store, [section], modstamp_field=FIELD, now=now)
    receiver = Receiver(client, store, clock=lambda: now) if now is not None else None
    for day, objects in sorted(plan.runs.items()):
        if section.object not in objects:
            continue
        if receiver is None:
            receive_days(client, store, section.object, day, day, incremental=True, modstamp_field=FIELD)
        else:
            window = receiver.plan_window(section, day, day, incremental=True, modstamp_field=FIELD)
            receiver.receive_window(section, window, modstamp_field=FIELD, days=(day, day))
    return plan


def _fetched_until(client: SalesforceClient, store: PlatformStore, section: Section, until: datetime) -> None:
    """A full fetch as it ran at `until`: every partition up to that moment, the cursor there."""
    Receiver(client, store, clock=lambda: until).receive_window(section, all_history(until), modstamp_field=FIELD)


def test_a_tick_after_a_pause_of_days_fetches_every_day_since_the_cursor(sandbox: SandboxInfo,
                                                                         client: SalesforceClient,
                                                                         store: PlatformStore) -> None:
    section = store.section("Account")
    today = datetime.now(UTC).date()
    paused_at = day_start(today - timedelta(days=3)) + timedelta(hours=12)  # paused over a long weekend
    _fetched_until(client, store, section, paused_at)
    skipped = client.count("Account", f"LastModifiedDate >= {paused_at:%Y-%m-%dT%H:%M:%SZ} "
                                      f"AND LastModifiedDate < {day_start(today - timedelta(days=1)):%Y-%m-%dT%H:%M:%SZ}")
    assert skipped > 0, "the seeded org has Accounts modified in the days of the pause"

    _tick(client, store, section)  # the first tick after `crm-sync resume`

    assert mismatches(sandbox, store, section) == []


def test_a_late_commit_before_midnight_is_fetched_by_a_tick_after_midnight(sandbox: SandboxInfo,
                                                                           client: SalesforceClient,
                                                                           platform_url: str, tmp_path) -> None:
    # A lookback of a day, so that records written now (real time) lie in the band that reaches back from
    # just after the coming midnight (the ticks' clock): the band 23:58 lies in with the default 10 minutes.
    settings = fast_settings(lookback_minutes=1440)
    with PlatformStore(platform_url, settings, landing_root=tmp_path / "landing") as store:
        section = store.section("Account")
        marker = uuid.uuid4().hex[:8]
        now = datetime.now(UTC)
        _fetched_until(client, store, section, now)
        midnight = day_start(now.date() + timedelta(days=1))
        after_midnight = midnight + min(timedelta(minutes=1), (now - day_start(now.date())) / 2)

        sandbox.admin.set_faults(commit_lag_s=2)
        try:  # committed late: invisible to the tick that closes the day
            late = sandbox.salesforce().Account.create({"Name": f"Late {marker}"})["id"]
        finally:
            sandbox.admin.set_faults(commit_lag_s=0)
        [other] = [r["Id"] for r in client.query_records("SELECT Id FROM Account ORDER BY Id LIMIT 1")]
        sandbox.admin.update_record("Account", other, {"Website": f"https://{marker}.example.com"})

        first = _tick(client, store, section, now=after_midnight)  # closes yesterday up to midnight
        assert {now.date(), midnight.date()} <= set(first.runs)
        assert platform_rows(store, section)[other]["website"] == f"https://{marker}.example.com"
        assert late not in platform_rows(store, section)
        time.sleep(2.2)  # now the late record is visible, with its modstamp of yesterday
        _tick(client, store, section, now=after_midnight + timedelta(minutes=5))

        assert late in platform_rows(store, section), "the late record of yesterday never arrived"


def test_a_record_that_leaves_the_filter_is_marked_out_of_scope_and_kept(sandbox: SandboxInfo,
                                                                         client: SalesforceClient,
                                                                         platform_url: str, tmp_path) -> None:
    base = fast_settings()
    settings = base.model_copy(update={"sections": [
        s.model_copy(update={"filter": "Industry = 'Technology'"}) if s.object == "Account" else s
        for s in base.sections]})
    with PlatformStore(platform_url, settings, landing_root=tmp_path / "landing") as store:
        section = store.section("Account")
        receiver = Receiver(client, store)
        receiver.receive_window(section, all_history(), modstamp_field=FIELD)
        target = next(i for i, r in platform_rows(store, section).items() if r["industry"] == "Technology")
        left_at = datetime.now(UTC) - timedelta(seconds=1)
        sandbox.admin.update_record("Account", target, {"Industry": "Energy"})  # out of the section's filter

        _tick(client, store, section)
        receiver.receive_window(section, all_history(), modstamp_field=FIELD)  # and a full fetch

        row = platform_rows(store, section)[target]
        assert row["deleted"] is False  # kept, not deleted
        left = {k: v for k, v in row.items()
                if isinstance(v, datetime) and k not in KNOWN_TIMES and v >= left_at}
        assert left, f"nothing on the row says it left the filter, or when: {row}"


def test_a_preflight_failure_is_written_to_the_sync_log(sandbox: SandboxInfo, client: SalesforceClient,
                                                        store: PlatformStore) -> None:
    today = datetime.now(UTC).date()
    sandbox.admin.hide_field("Account", "Website")
    try:
        with pytest.raises(SyncSetupError):
            receive_days(client, store, "Account", today, today, incremental=True, modstamp_field=FIELD)
    finally:
        sandbox.admin.restore_field("Account", "Website")
    assert store.get_cursor("Account", FIELD) is None  # nothing was fetched

    failed = store.read_log(section="Account", event="sync_failed")
    assert failed, "the failed preflight left no sync_failed in the sync log"
    assert "Website" in json.dumps(failed[-1].details)


def test_a_gap_longer_than_the_deleted_window_is_said_in_the_sync_log(client: SalesforceClient,
                                                                      store: PlatformStore) -> None:
    section = store.section("Account")
    _fetched_until(client, store, section, datetime.now(UTC) - timedelta(days=20))
    _tick(client, store, section)  # 20 days later: Salesforce keeps deletes for 15 days only

    said = [e for e in store.read_log(section="Account")
            if re.search(r"\b15\b", json.dumps(e.details)) and "delet" in json.dumps(e.details).lower()]
    assert said, "no sync log event says that deletes older than 15 days may be missed"


def test_a_hard_delete_marks_the_platform_record_deleted(sandbox: SandboxInfo, client: SalesforceClient,
                                                         sqlite_url: str, postgres_url: str, settings,
                                                         tmp_path) -> None:
    """A record removed without the recycle bin never shows in queryAll; the next tick finds it through the
    `deleted` resource (whole minutes, so once the minute of the delete has passed). One delete, both stores."""
    marker = uuid.uuid4().hex[:8]
    doomed = sandbox.admin.create_record("Account", {"Name": f"Doomed {marker}"})
    stores = [PlatformStore(url, settings, landing_root=tmp_path / name)
              for name, url in (("sqlite", sqlite_url), ("postgres", postgres_url))]
    try:
        section = stores[0].section("Account")
        for store in stores:
            _fetched_until(client, store, section, datetime.now(UTC))
            assert platform_rows(store, section)[doomed]["deleted"] is False

        sandbox.admin.hard_delete_record("Account", doomed)  # never seen in queryAll
        time.sleep(61 - datetime.now(UTC).second)  # the `deleted` resource covers whole minutes up to now
        for store in stores:
            plan = _tick(client, store, section)
            assert [c.gone for c in plan.changes] == [1]
            row = platform_rows(store, section)[doomed]
            assert row["deleted"] is True and row["deleted_at"] is not None
            assert [c.gone for c in _tick(client, store, section).changes] == [0]  # marked: not due again
    finally:
        for store in stores:
            store.close()
