"""System changes wait for the nightly push; push one model; conflicts decided by the section's rule."""

from __future__ import annotations

import time

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sync.send import edit_record, nightly_push, push_changes, push_model
from crm_sync.sync.send.outbox_batches import claim_batch
from crm_sync.sync.send.push import CONFLICT_EVENT
from crm_sync_tests.sync.send.conftest import receive_ids, sf_records, some_ids


def test_a_system_change_waits_for_the_nightly_push(client: SalesforceClient, store: PlatformStore,
                                                    marker: str) -> None:
    score = int(marker[1:], 16) % 100_000 + 0.5  # a value no other test writes
    ids = some_ids(client, "Account", 2)
    receive_ids(client, store, "Account", ids)
    rows = [store.get_record("company", salesforce_id=i) for i in ids]
    edit_record(store, "company", {"health_score": score}, actor="system:health-score", record_id=rows[0]["id"])

    assert store.outbox_entries() == [] and claim_batch(store).empty
    assert push_changes(client, store).sent == 0
    assert sf_records(client, "Account", f"Id = '{ids[0]}'", "Health_Score__c")[0]["Health_Score__c"] != score

    first = nightly_push(client, store)
    assert first["company"].sent == 1 and first["end_user"].sent == 0
    assert sf_records(client, "Account", f"Id = '{ids[0]}'", "Health_Score__c")[0]["Health_Score__c"] == score
    assert nightly_push(client, store)["company"].sent == 0  # nothing newer than the last nightly push

    edit_record(store, "company", {"health_score": score + 1}, actor="system", record_id=rows[1]["id"])
    assert nightly_push(client, store)["company"].sent == 1
    assert sf_records(client, "Account", f"Id = '{ids[1]}'", "Health_Score__c")[0]["Health_Score__c"] == score + 1


def test_push_one_model_sends_every_record(client: SalesforceClient, store: PlatformStore, marker: str) -> None:
    ids = some_ids(client, "Account", 3)
    receive_ids(client, store, "Account", ids)
    new = edit_record(store, "company", {"name": f"Acme {marker}"}, actor="system")
    result = push_model(client, store, "company")
    assert result.sent == 4 and result.created == 1 and result.failed == 0
    assert store.get_record("company", record_id=new)["salesforce_id"]
    assert len(sf_records(client, "Account", f"Name = 'Acme {marker}'")) == 1


def _received_contact(client: SalesforceClient, store: PlatformStore) -> tuple[str, int]:
    [contact_id] = some_ids(client, "Contact", 1, "Title != null")
    receive_ids(client, store, "Contact", [contact_id])
    return contact_id, store.get_record("end_user", salesforce_id=contact_id)["id"]


def _overwrites(store: PlatformStore) -> list[dict]:
    return [e.details for e in store.read_log(event=CONFLICT_EVENT)
            if isinstance(e.details, dict) and "overwritten" in e.details]


def test_newest_change_wins_salesforce_later(client: SalesforceClient, store: PlatformStore, admin: SandboxAdmin,
                                             marker: str) -> None:
    contact_id, record_id = _received_contact(client, store)
    edit_record(store, "end_user", {"title": f"Platform {marker}"}, actor="user", record_id=record_id)
    time.sleep(0.01)
    admin.update_record("Contact", contact_id, {"Title": f"Salesforce {marker}"})

    result = push_changes(client, store)

    assert result.overwritten == 1 and store.outbox_entries() == []
    assert sf_records(client, "Contact", f"Id = '{contact_id}'", "Title")[0]["Title"] == f"Salesforce {marker}"
    assert store.get_record("end_user", record_id=record_id)["title"] == f"Salesforce {marker}"
    [logged] = _overwrites(store)
    assert (logged["platform_value"], logged["salesforce_value"], logged["winner"]) == (
        f"Platform {marker}", f"Salesforce {marker}", "salesforce")
    assert store.outbox_entries() == []  # taking Salesforce's value made no outbox row


def test_newest_change_wins_platform_later_and_one_way_fields_belong_to_the_platform(
        client: SalesforceClient, store: PlatformStore, admin: SandboxAdmin, marker: str) -> None:
    contact_id, record_id = _received_contact(client, store)
    admin.update_record("Contact", contact_id, {"Title": f"Salesforce {marker}"})
    time.sleep(0.01)
    edit_record(store, "end_user", {"title": f"Platform {marker}"}, actor="user", record_id=record_id)
    push_changes(client, store)
    assert sf_records(client, "Contact", f"Id = '{contact_id}'", "Title")[0]["Title"] == f"Platform {marker}"
    [logged] = _overwrites(store)
    assert logged["winner"] == "platform" and logged["salesforce_value"] == f"Salesforce {marker}"

    [account_id] = some_ids(client, "Account", 1)
    receive_ids(client, store, "Account", [account_id])
    company = store.get_record("company", salesforce_id=account_id)["id"]
    edit_record(store, "company", {"health_score": 11.0}, actor="user", record_id=company)
    time.sleep(0.01)
    admin.update_record("Account", account_id, {"Health_Score__c": 99.0})
    push_changes(client, store)
    assert sf_records(client, "Account", f"Id = '{account_id}'", "Health_Score__c")[0]["Health_Score__c"] == 11.0
    assert _overwrites(store)[-1]["reason"].startswith("one-way field")
