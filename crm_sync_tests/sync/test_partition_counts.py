"""A receive run over several partitions reports each partition's own numbers, which add up to the run's."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from crm_sync.platform import PlatformStore
from crm_sync.sync.partition_counts import PartitionCountingStore
from crm_sync.sync.receive_run import receive_days
from crm_sync_tests.sync.conftest import fast_settings

FIELD = "LastModifiedDate"


def _iso(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def test_each_partition_counts_its_own_modstamp_day_and_the_first_holds_history(sandbox, client, platform_url,
                                                                                 tmp_path) -> None:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=3)  # the seeded org spreads its records over 90 days
    settings = fast_settings(partition_start_date=start)
    with PlatformStore(platform_url, settings, landing_root=tmp_path / "landing") as store:
        receipt = receive_days(client, store, "Contact", start, today, incremental=False)
        metadata = receipt.partition_metadata()
        assert list(metadata) == [start + timedelta(days=i) for i in range(4)]

        for day, own in metadata.items():
            low = "" if day == start else f"LastModifiedDate >= {_iso(day)} AND "
            expected = client.count("Contact", f"{low}LastModifiedDate < {_iso(day + timedelta(days=1))}",
                                    include_deleted=True)
            assert own["records_fetched"] == expected, day
            assert own["records_imported"] + own["records_skipped"] == expected, day  # a first fetch
            assert own["dagster/row_count"] == own["records_imported"], day
        fetched = [own["records_fetched"] for own in metadata.values()]
        assert fetched[0] > max(fetched[1:])  # 87 days of history against one day each
        assert sum(fetched) == receipt.result.fetched
        assert sum(own["records_imported"] for own in metadata.values()) == receipt.result.counts.imported
        assert metadata[start]["window_start"].startswith("1970-01-01")
        assert metadata[today]["window_start"].startswith(today.isoformat())
        assert metadata[start]["api_calls"] == receipt.result.api_calls > 0
        assert all("api_calls" not in own for day, own in metadata.items() if day != start)

        contact = client.query_records("SELECT Id FROM Contact LIMIT 1")
        [record_id] = [r["Id"] for r in contact]
        sandbox.admin.update_record("Contact", record_id, {"Title": f"Partition Counter {uuid.uuid4().hex[:6]}"})
        again = receive_days(client, store, "Contact", start, today, incremental=False).partition_metadata()
        assert again[today]["records_updated"] == 1
        assert sum(own["records_updated"] for own in again.values()) == 1
        # the edited record moved from its old day to today; every other record is unchanged where it was
        assert sum(own["records_fetched"] for own in again.values()) == sum(fetched)
        assert sum(own["records_unchanged"] for own in again.values()) == sum(fetched) - 1


class _FailingOnSecondApply(PlatformStore):
    """A real store whose second apply_page call fails, as a crash between two slices of one page would."""

    calls = 0

    def apply_page(self, *args, **kwargs):
        type(self).calls += 1
        if type(self).calls == 2:
            raise RuntimeError("connection lost between slices")
        return super().apply_page(*args, **kwargs)


@pytest.mark.parametrize("platform_url", ["sqlite"], indirect=True)
def test_a_run_broken_between_slices_keeps_the_cursor_and_the_rerun_counts_the_rest(platform_url, tmp_path) -> None:
    from crm_sync.platform.cursors import CursorUpdate

    days = [date(2026, 3, 1), date(2026, 3, 2)]
    settings = fast_settings(partition_start_date=days[0])
    page = [{"salesforce_id": f"003{i:015d}", "last_name": f"L{i}", "sf_last_modified":
             datetime(2026, 3, 1 + i % 2, 12, tzinfo=UTC)} for i in range(6)]
    cursor = CursorUpdate(upper_bound=datetime(2026, 3, 3, tzinfo=UTC), partition_day=days[-1],
                          window_start=datetime(2026, 3, 1, tzinfo=UTC), first_partition_day=days[0])
    with _FailingOnSecondApply(platform_url, settings, landing_root=tmp_path / "landing") as store:
        counting = PartitionCountingStore(store, *days)
        with pytest.raises(RuntimeError):
            counting.apply_page("Contact", page, modstamp_field=FIELD, cursor=cursor)
        assert store.get_cursor("Contact", FIELD) is None
        assert store.count_records("Contact") == 3  # the first day's slice only

        rerun = PartitionCountingStore(store, *days)
        total = rerun.apply_page("Contact", page, modstamp_field=FIELD, cursor=cursor)
        assert store.get_cursor("Contact", FIELD) == cursor.upper_bound
        assert rerun.counts[days[0]].unchanged == 3 and rerun.counts[days[1]].imported == 3
        assert total.imported == 3 and total.unchanged == 3
