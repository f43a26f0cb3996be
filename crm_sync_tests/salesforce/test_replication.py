"""The `updated` and `deleted` resources (getUpdated / getDeleted) against the sandbox org."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from crm_sync.salesforce import SalesforceClient, soql

from .conftest import EarlyChanges


def test_updated_lists_records_changed_in_the_window(client: SalesforceClient) -> None:
    this_minute = datetime.now(UTC).replace(second=0, microsecond=0)  # not covered by `updated` yet
    query = soql.select("Contact", ["Id", "SystemModstamp"], order_by="SystemModstamp DESC", limit=5,
                        where=f"SystemModstamp < {soql.datetime_literal(this_minute)}")
    recent = next(client.query_pages(query)).to_pylist()
    newest = recent[0]["SystemModstamp"]
    start = newest.replace(second=0, microsecond=0)
    ids = client.updated("Contact", start, start + timedelta(minutes=1))
    assert recent[0]["Id"] in ids
    in_window = client.count("Contact", soql.window_condition("SystemModstamp", start, start + timedelta(minutes=1)))
    assert len(ids) >= in_window  # the window's end minute is inclusive here
    assert recent[0]["Id"] not in client.updated("Contact", start - timedelta(days=2), start - timedelta(days=1))


def _wait_for_minute_after(moment: datetime) -> None:
    """`deleted` covers whole minutes up to the current one: wait until `moment`'s minute is over."""
    next_minute = moment.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=0.2)
    time.sleep(max(0.0, (next_minute - datetime.now(UTC)).total_seconds()))


def test_deleted_lists_ids_and_dates(client: SalesforceClient, early_changes: EarlyChanges) -> None:
    _wait_for_minute_after(early_changes.at)
    start = early_changes.at - timedelta(minutes=5)
    deleted = dict(client.deleted("Account", start, datetime.now(UTC)))
    assert early_changes.deleted_account_id in deleted
    assert start <= deleted[early_changes.deleted_account_id] <= early_changes.at
    earlier = dict(client.deleted("Account", start - timedelta(days=2), start - timedelta(days=1)))
    assert early_changes.deleted_account_id not in earlier
