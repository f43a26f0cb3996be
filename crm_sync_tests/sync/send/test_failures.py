"""Per-record errors: a validation failure is kept, retried with backoff, succeeds once fixed, and is a dead
letter after 30 attempts; bad values become per-record errors; the rest of the batch always goes through."""

from __future__ import annotations

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sync.send import edit_record, push_changes
from crm_sync.sync.send.outbox_batches import claim_batch
from crm_sync_tests.sync.send.conftest import later, receive_ids, sf_records, some_ids


def test_validation_failure_is_kept_retried_then_succeeds_and_holds_back_nothing(
        client: SalesforceClient, store: PlatformStore, admin: SandboxAdmin, marker: str) -> None:
    ids = some_ids(client, "Contact", 3)
    receive_ids(client, store, "Contact", ids)
    rows = [store.get_record("end_user", salesforce_id=i) for i in ids]
    admin.add_validation_rule("Contact", f"no_{marker}", "Title", operator="equals", value=f"Bad {marker}",
                              message="Title may not be that")
    edit_record(store, "end_user", {"title": f"Bad {marker}"}, actor="user", record_id=rows[0]["id"])
    for row in rows[1:]:
        edit_record(store, "end_user", {"title": f"Good {marker}"}, actor="user", record_id=row["id"])

    result = push_changes(client, store)

    assert (result.sent, result.failed, result.dead) == (2, 1, 0)
    titles = {r["Id"]: r["Title"] for r in sf_records(client, "Contact", "Id IN ('" + "','".join(ids) + "')", "Id, Title")}
    assert titles[ids[1]] == titles[ids[2]] == f"Good {marker}" and titles[ids[0]] != f"Bad {marker}"
    [entry] = store.outbox_entries()
    assert entry.record_id == rows[0]["id"] and entry.attempts == 1 and not entry.dead
    assert entry.last_error == {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                "message": "Title may not be that", "fields": ["Title"]}
    failed = store.get_record("end_user", record_id=rows[0]["id"])
    assert failed["sync_status"] == "error" and "Title may not be that" in failed["sync_error"]
    assert claim_batch(store).empty  # backing off

    retried = push_changes(client, store, now=later())
    assert retried.failed == 1 and store.outbox_entries()[0].attempts == 2

    admin.remove_rule(f"no_{marker}")
    fixed = push_changes(client, store, now=later(4))
    assert fixed.sent == 1 and store.outbox_entries() == []
    assert sf_records(client, "Contact", f"Id = '{ids[0]}'", "Title")[0]["Title"] == f"Bad {marker}"
    assert store.get_record("end_user", record_id=rows[0]["id"])["sync_status"] == "ok"


def test_after_30_failures_the_change_is_a_dead_letter_until_the_record_changes(
        client: SalesforceClient, store: PlatformStore, admin: SandboxAdmin, marker: str) -> None:
    [contact_id] = some_ids(client, "Contact", 1)
    receive_ids(client, store, "Contact", [contact_id])
    record_id = store.get_record("end_user", salesforce_id=contact_id)["id"]
    admin.add_validation_rule("Contact", f"dead_{marker}", "Department", operator="equals", value=marker,
                              message="not this department")
    edit_record(store, "end_user", {"department": marker}, actor="user", record_id=record_id)

    for attempt in range(1, 31):
        result = push_changes(client, store, now=later(2 * attempt))
        assert result.failed == 1
    [entry] = store.outbox_entries()
    assert entry.dead and entry.attempts == 30
    assert entry.last_error["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert claim_batch(store, now=later(100)).empty  # parked

    admin.remove_rule(f"dead_{marker}")
    edit_record(store, "end_user", {"department": f"{marker}x"}, actor="user", record_id=record_id)
    revived = push_changes(client, store)
    assert revived.sent == 1 and store.outbox_entries() == []
    assert sf_records(client, "Contact", f"Id = '{contact_id}'", "Department")[0]["Department"] == f"{marker}x"


def test_values_salesforce_cannot_take_become_per_record_errors(client: SalesforceClient, store: PlatformStore,
                                                                marker: str) -> None:
    too_long = edit_record(store, "end_user", {"last_name": "L" * 200, "email": f"long.{marker}@example.com"},
                           actor="user")
    wrong_type = edit_record(store, "end_user", {"last_name": "Typed", "email": f"not an email {marker}"},
                             actor="user")
    fine = edit_record(store, "end_user", {"last_name": "Fine", "email": f"fine.{marker}@example.com"}, actor="user")

    result = push_changes(client, store)

    assert (result.sent, result.failed) == (1, 2)
    errors = {e.record_id: e.last_error for e in store.outbox_entries()}
    assert errors[too_long]["statusCode"] == "STRING_TOO_LONG" and errors[too_long]["fields"] == ["LastName"]
    assert errors[wrong_type]["fields"] == ["Email"] and errors[wrong_type]["message"]
    assert store.get_record("end_user", record_id=fine)["sync_status"] == "ok"
    assert store.get_record("end_user", record_id=wrong_type)["sync_status"] == "error"
