"""The `updated` and `deleted` resources (getUpdated / getDeleted) against the sandbox org."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from crm_sync.salesforce import SalesforceClient, soql
from crm_sync.sandbox.admin_client import SandboxAdmin

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


@contextlib.contextmanager
def _org_clock_a_minute_after(admin: SandboxAdmin, moment: datetime) -> Iterator[datetime]:
    """`deleted` covers whole minutes up to the org's current one: shift the org's clock past `moment`'s
    minute (instead of waiting for it) and yield the org's time; the clock is set back on exit."""
    next_minute = moment.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=0.2)
    offset = max(0.0, (next_minute - datetime.now(UTC)).total_seconds())
    admin.set_clock_offset(offset)
    try:
        yield datetime.now(UTC) + timedelta(seconds=offset)
    finally:
        admin.set_clock_offset(0)


def test_deleted_lists_ids_and_dates(client: SalesforceClient, sf_admin: SandboxAdmin,
                                     early_changes: EarlyChanges) -> None:
    start = early_changes.at - timedelta(minutes=5)
    with _org_clock_a_minute_after(sf_admin, early_changes.at) as org_now:
        deleted = dict(client.deleted("Account", start, org_now))
    assert early_changes.deleted_account_id in deleted
    assert start <= deleted[early_changes.deleted_account_id] <= early_changes.at
    earlier = dict(client.deleted("Account", start - timedelta(days=2), start - timedelta(days=1)))
    assert early_changes.deleted_account_id not in earlier
