"""The first partition holds every record older than the partition start date: receive and reconciliation agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.sync.health.reconcile import reconcile
from crm_sync.sync.receive import Receiver
from crm_sync.sync.windows import HISTORY_START
from crm_sync_tests.sync.conftest import fast_settings


@pytest.mark.parametrize("platform_url", ["sqlite"], indirect=True)
def test_history_older_than_the_start_date_lands_in_the_first_partition(sandbox, client, platform_url,
                                                                        tmp_path) -> None:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=5)  # the seeded org spreads its records over 90 days
    settings = fast_settings(partition_start_date=start)
    with PlatformStore(platform_url, settings, landing_root=tmp_path / "landing") as store:
        receiver = Receiver(client, store)
        section = store.settings.section("Contact")
        window = receiver.plan_window(section, start, start, incremental=False, modstamp_field="LastModifiedDate")
        assert window.start == HISTORY_START
        result = receiver.receive_window(section, window, modstamp_field="LastModifiedDate", days=(start, start))
        older = client.count("Contact", f"LastModifiedDate < {start.isoformat()}T00:00:00Z")
        assert older > 0 and result.counts.imported >= older
        assert store.get_partition_window(section, "LastModifiedDate", start) is not None

        rest = receiver.plan_window(section, start + timedelta(days=1), today, incremental=False,
                                    modstamp_field="LastModifiedDate")
        receiver.receive_window(section, rest, modstamp_field="LastModifiedDate")
        [outcome] = reconcile(client, store, [section], modstamp_field="LastModifiedDate")
        assert outcome.differences == [], outcome

        table = store.table(section)  # a row older than the start date vanishes behind the sync's back
        with store.engine.begin() as conn:
            old = conn.execute(sa.select(table.c.id).where(
                table.c.sf_last_modified < datetime.combine(start, datetime.min.time(), tzinfo=UTC)).limit(1)).scalar()
            conn.execute(table.delete().where(table.c.id == old))
        [outcome] = reconcile(client, store, [section], modstamp_field="LastModifiedDate")
        assert outcome.partition_keys == [start.isoformat()]
        assert outcome.missing_on_platform == 1
