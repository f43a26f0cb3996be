"""A push_changes run that keeps polling the outbox (follow.py): an edit made while it runs goes out in
the same call, with the push's guarantees; the run ends once nothing was due for its idle time."""

from __future__ import annotations

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient
from crm_sync.sync.send import edit_record
from crm_sync.sync.send.follow import follow_outbox
from crm_sync.sync.send.outbox_batches import claim_batch
from crm_sync.sync.send.push import PushResult
from crm_sync_tests.sync.send.conftest import receive_ids, sf_records, some_ids


def test_an_edit_made_while_the_run_polls_is_pushed_by_the_same_run(client: SalesforceClient, store: PlatformStore,
                                                                   marker: str) -> None:
    ids = some_ids(client, "Account", 2)
    receive_ids(client, store, "Account", ids)
    first, second = (store.get_record("company", salesforce_id=i)["id"] for i in ids)
    edit_record(store, "company", {"description": f"first {marker}"}, actor="user:ana@example.com", record_id=first)
    batch = claim_batch(store)
    assert not batch.empty
    pushes: list[PushResult] = []

    def after_push(result: PushResult) -> None:
        pushes.append(result)
        if len(pushes) == 1:  # the run is between polls now: a user edits another record
            edit_record(store, "company", {"description": f"second {marker}"}, actor="user:ana@example.com",
                        record_id=second)

    total = follow_outbox(client, store, first=batch, limit=100, idle_seconds=1.0, poll_seconds=0.05,
                          max_seconds=120, on_push=after_push)

    assert [p.sent for p in pushes] == [1, 1] and total.sent == 2 and total.failed == 0
    assert set(total.stages) >= {"claim", "check", "write", "ack"}
    described = {r["Id"]: r["Description"] for r in sf_records(client, "Account", f"Id IN ('{ids[0]}', '{ids[1]}')",
                                                                  "Id, Description")}
    assert described == {ids[0]: f"first {marker}", ids[1]: f"second {marker}"}
    assert store.outbox_entries() == []
    for record_id, value in ((first, f"first {marker}"), (second, f"second {marker}")):
        row = store.get_record("company", record_id=record_id)
        assert row["description__base"] == value and row["sync_status"] == "ok"


def test_a_stop_ends_the_run_after_its_batch(client: SalesforceClient, store: PlatformStore, marker: str) -> None:
    ids = some_ids(client, "Account", 1)
    receive_ids(client, store, "Account", ids)
    record = store.get_record("company", salesforce_id=ids[0])["id"]
    edit_record(store, "company", {"description": f"once {marker}"}, actor="user:ana@example.com", record_id=record)

    total = follow_outbox(client, store, first=None, limit=100, idle_seconds=3600, poll_seconds=0.05,
                          max_seconds=3600, stop=lambda: True)

    assert total.sent == 1 and store.outbox_entries() == []
