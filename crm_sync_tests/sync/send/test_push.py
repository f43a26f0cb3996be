"""The push against the sandbox, on SQLite and Postgres: a user's edit arrives, its echo does not come back."""

from __future__ import annotations

from crm_sync.platform import PlatformStore
from crm_sync.platform.values import parse_datetime
from crm_sync.salesforce import RecordResult, SalesforceClient
from crm_sync.sync.send import edit_record, push_changes
from crm_sync.sync.send.outbox_batches import claim_batch
from crm_sync.sync.send.push import Pusher
from crm_sync_tests.sync.send.conftest import receive_ids, receive_recent, settings_with, sf_records, some_ids


def test_user_edit_reaches_salesforce_and_the_echo_writes_no_outbox_row(client: SalesforceClient,
                                                                         store: PlatformStore, marker: str) -> None:
    contact_id = some_ids(client, "Contact", 1)[0]
    receive_ids(client, store, "Contact", [contact_id])
    row = store.get_record("end_user", salesforce_id=contact_id)
    edit_record(store, "end_user", {"title": f"CTO {marker}"}, actor="user:ana@example.com", record_id=row["id"])
    new_id = edit_record(store, "end_user", {"last_name": f"New {marker}", "email": f"{marker}@Example.com",
                                             "title": "Buyer"}, actor="user:ana@example.com")
    assert [sorted(e.changed_columns) for e in store.outbox_entries()] == [["title"], ["email", "last_name", "title"]]

    before = client.api_calls.snapshot()
    result = push_changes(client, store)

    assert (result.sent, result.created, result.updated, result.failed) == (2, 1, 1, 0)
    assert store.outbox_entries() == []
    # one /composite call per chunk (here: the upsert and the update) holds the write and the read-back
    spent = (client.api_calls.snapshot() - before).by_purpose
    assert (spent.get("collections_upsert"), spent.get("collections_update")) == (1, 1)
    for record_id, sf_id in ((row["id"], contact_id), (new_id, None)):
        stored = store.get_record("end_user", record_id=record_id)
        [sf_row] = sf_records(client, "Contact", f"Id = '{sf_id or stored['salesforce_id']}'", "LastModifiedDate")
        assert stored["sf_sent_modstamp"] == parse_datetime(sf_row["LastModifiedDate"])
    assert sf_records(client, "Contact", f"Id = '{contact_id}'", "Title")[0]["Title"] == f"CTO {marker}"
    created = store.get_record("end_user", record_id=new_id)
    assert created["sync_status"] == "ok" and created["salesforce_id"]
    in_sf = sf_records(client, "Contact", f"Id = '{created['salesforce_id']}'", "Id, LastName, Email, External_Id__c")
    assert in_sf == [{"Id": created["salesforce_id"], "LastName": f"New {marker}", "Email": f"{marker}@Example.com",
                      "External_Id__c": f"{marker}:end_user:{new_id}"}]

    for _ in range(2):  # the echo comes back, twice: no outbox row, no ping-pong
        receive_recent(client, store, "Contact")
        assert store.outbox_entries() == []
        assert claim_batch(store).empty
    echoed = store.get_record("end_user", record_id=new_id)
    assert echoed["name"] == f"New {marker}" and echoed["origin"] == "salesforce"
    assert echoed["external_id"] == f"{marker}:end_user:{new_id}"
    assert store.get_record("end_user", record_id=row["id"])["title"] == f"CTO {marker}"


def test_update_sends_only_the_changed_fields(client: SalesforceClient, store: PlatformStore, admin,
                                              marker: str) -> None:
    contact_id = some_ids(client, "Contact", 1, "Phone != null")[0]
    receive_ids(client, store, "Contact", [contact_id])
    row = store.get_record("end_user", salesforce_id=contact_id)
    # Salesforce changes Phone after the platform saw the record; the platform changes only Title.
    admin.update_record("Contact", contact_id, {"Phone": f"+1 555 {marker[-4:]}"})
    edit_record(store, "end_user", {"title": f"VP {marker}"}, actor="user", record_id=row["id"])

    push_changes(client, store)

    after = sf_records(client, "Contact", f"Id = '{contact_id}'", "Title, Phone")[0]
    assert after["Title"] == f"VP {marker}" and after["Phone"] == f"+1 555 {marker[-4:]}"


def test_a_change_of_a_receive_only_column_is_not_captured(store: PlatformStore) -> None:
    record_id = store.write_record("end_user", {"last_name": "Quiet", "email": "q@example.com"}, origin="salesforce")
    edit_record(store, "end_user", {"name": "Display name"}, actor="user", record_id=record_id)
    assert store.outbox_entries() == []


def test_a_modstamp_read_back_is_kept_only_when_the_last_change_is_our_own(client: SalesforceClient,
                                                                          store: PlatformStore) -> None:
    client.login()
    pusher = Pusher(client, store)
    ours = RecordResult(id="0038a0000000001AAA", success=True,
                        read_back={"LastModifiedDate": "2026-01-02T03:04:05.000+0000",
                                   "LastModifiedById": client.user_id})
    theirs = RecordResult(id="0038a0000000001AAA", success=True,
                          read_back={"LastModifiedDate": "2026-01-02T03:04:06.000+0000",
                                     "LastModifiedById": "0058a0000000999AAA"})
    assert client.user_id and client.user_id.startswith("005")
    assert pusher._own_modstamp(ours) == parse_datetime("2026-01-02T03:04:05.000+0000")
    assert pusher._own_modstamp(theirs) is None  # someone else's newer version: the echo must bring it


def test_above_the_threshold_the_push_uses_bulk_ingest_and_reads_back_its_modstamps(
        client: SalesforceClient, platform_url: str, marker: str) -> None:
    settings = settings_with(lambda data: data["defaults"].update({"push_bulk_threshold": 2}))
    with PlatformStore(platform_url, settings) as store:
        ids = [edit_record(store, "company", {"name": f"Bulk {marker} {n}"}, actor="user") for n in range(4)]
        result = push_changes(client, store, batch=claim_batch(store, limit=100))  # as the sensor claims
        assert result.apis == {"bulk"} and (result.sent, result.created, result.failed) == (4, 4, 0)
        assert store.outbox_entries() == []
        for record_id in ids:
            row = store.get_record("company", record_id=record_id)
            [sf_row] = sf_records(client, "Account", f"Id = '{row['salesforce_id']}'", "Name, LastModifiedDate")
            assert sf_row["Name"] == row["name"]
            assert row["sf_sent_modstamp"] == parse_datetime(sf_row["LastModifiedDate"])
