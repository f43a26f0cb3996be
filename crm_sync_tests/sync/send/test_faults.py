"""Faults and crashes during a push: every change takes effect exactly once, none is lost, no duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sync.send import Pusher, edit_record, push_changes
from crm_sync.sync.send.outbox_batches import claim_batch
from crm_sync_tests.sync.send.conftest import receive_ids, sf_records, some_ids


class Killed(BaseException):  # a kill: no handler of the push may catch it
    """Stands for the process dying at a checkpoint of the push."""


def _changes(client: SalesforceClient, store: PlatformStore, marker: str) -> tuple[list[str], list[int]]:
    """Two updates of received Contacts and three new end users, all as user edits."""
    ids = some_ids(client, "Contact", 2, "Email != null")
    receive_ids(client, store, "Contact", ids)
    for contact_id in ids:
        edit_record(store, "end_user", {"department": marker}, actor="user",
                    record_id=store.get_record("end_user", salesforce_id=contact_id)["id"])
    new = [edit_record(store, "end_user", {"last_name": f"N{n}", "email": f"n{n}.{marker}@example.com"},
                       actor="user") for n in range(3)]
    return ids, new


def _assert_exactly_once(client: SalesforceClient, store: PlatformStore, marker: str, ids: list[str],
                         new: list[int]) -> None:
    assert store.outbox_entries() == []
    updated = sf_records(client, "Contact", f"Department = '{marker}'")
    assert sorted(r["Id"] for r in updated) == sorted(ids)
    created = sf_records(client, "Contact", f"Email LIKE '%.{marker}@example.com'", "Id, External_Id__c")
    assert sorted(r["External_Id__c"] for r in created) == sorted(f"{marker}:end_user:{i}" for i in new)
    for record_id in new:
        row = store.get_record("end_user", record_id=record_id)
        assert row["sync_status"] == "ok" and row["salesforce_id"] in {r["Id"] for r in created}


@pytest.mark.parametrize(("kind", "count"), [("503", 2), ("lock", 2), ("expire", 1)])
def test_faults_the_client_rides_out(kind: str, count: int, client: SalesforceClient, store: PlatformStore,
                                     admin: SandboxAdmin, marker: str) -> None:
    ids, new = _changes(client, store, marker)
    admin.add_fault("/composite", kind, count=count)  # collections writes ride in /composite calls
    result = push_changes(client, store)
    assert result.failed == 0
    _assert_exactly_once(client, store, marker, ids, new)


def test_a_fault_outlasting_the_retries_fails_the_chunk_and_the_next_run_completes_it(
        client: SalesforceClient, store: PlatformStore, admin: SandboxAdmin, marker: str) -> None:
    ids, new = _changes(client, store, marker)
    admin.add_fault("/composite", "503", count=50)
    first = push_changes(client, store)
    assert first.sent == 0 and first.failed == 5
    assert {e.last_error["statusCode"] for e in store.outbox_entries()} == {"SERVER_UNAVAILABLE"}
    admin.clear_faults()
    second = push_changes(client, store, now=datetime.now(UTC) + timedelta(hours=1))
    assert second.sent == 5
    _assert_exactly_once(client, store, marker, ids, new)


def test_run_killed_between_claim_and_write(client: SalesforceClient, store: PlatformStore, marker: str) -> None:
    ids, new = _changes(client, store, marker)
    abandoned = claim_batch(store)  # the run that claimed these died before writing anything
    assert len(abandoned.entries) == 5
    assert push_changes(client, store).sent == 0  # still leased: nobody else takes them
    lease = store.settings.defaults.claim_lease_seconds
    result = push_changes(client, store, now=datetime.now(UTC) + timedelta(seconds=lease + 1))
    assert result.sent == 5
    _assert_exactly_once(client, store, marker, ids, new)


def test_run_killed_between_write_and_acknowledgement(client: SalesforceClient, store: PlatformStore,
                                                      marker: str) -> None:
    ids, new = _changes(client, store, marker)

    def die(stage: str) -> None:
        if stage == "written":
            raise Killed(stage)

    with pytest.raises(Killed):
        push_changes(client, store, pusher=Pusher(client, store, checkpoint=die))
    assert len(store.outbox_entries()) == 5  # written to Salesforce, not acknowledged
    assert all(store.get_record("end_user", record_id=i)["salesforce_id"] is None for i in new)

    lease = store.settings.defaults.claim_lease_seconds
    result = push_changes(client, store, now=datetime.now(UTC) + timedelta(seconds=lease + 1))
    # updates that already landed now agree with Salesforce (unchanged); creates are found by key or email
    assert result.sent + result.unchanged == 5 and result.created == 0
    _assert_exactly_once(client, store, marker, ids, new)
