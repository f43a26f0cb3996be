"""Issue 9, defects 4, 6, 7, 8, 9 and 17: push claims and creates, on SQLite and Postgres against the sandbox.

Each test drives what the Dagster jobs call (edit_record, claim_batch, push_changes, the receive) and asserts
what a user sees: the values on both sides and how many records each side holds. Each failed on the code
before its fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient, SalesforceConfig
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.sync.send import Pusher, edit_record, push_changes
from crm_sync.sync.send.outbox_batches import claim_batch
from crm_sync.sync.send.push import _KeepAlive
from crm_sync_tests.sync.send.conftest import (
    FAST,
    later,
    receive_ids,
    receive_recent,
    settings_with,
    sf_records,
    some_ids,
)


class Killed(BaseException):  # a kill: no handler of the push may catch it
    """Stands for the push process dying between the write and the acknowledgement."""


def _killed_after_write(client: SalesforceClient, store: PlatformStore) -> None:
    """A push run that writes to Salesforce and dies before it records anything on the platform."""

    def die(stage: str) -> None:
        if stage == "written":
            raise Killed(stage)

    with pytest.raises(Killed):
        push_changes(client, store, pusher=Pusher(client, store, checkpoint=die))


def _push_until_quiet(client: SalesforceClient, store: PlatformStore, rounds: int = 3) -> None:
    """Push runs after every lease and backoff, until the outbox is empty (or `rounds` runs)."""
    for hours in range(1, rounds + 1):
        if not store.outbox_entries():
            return
        push_changes(client, store, now=later(hours * 2))


def _rows(store: PlatformStore, model: str, column: str, value: Any) -> list[dict[str, Any]]:
    """The platform rows of a model whose `column` equals `value`."""
    table = store.table(model)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).where(table.c[column] == value))]


class _WritesLater(SalesforceClient):
    """A client whose first write waits until `meanwhile` has happened (what a slow Bulk job lets through)."""

    def __init__(self, info: SandboxInfo, meanwhile: Callable[[], None]) -> None:
        super().__init__(SalesforceConfig.from_env(info.env(), **FAST))
        self.meanwhile: Callable[[], None] | None = meanwhile

    def _before_write(self) -> None:
        if self.meanwhile is not None:
            happening, self.meanwhile = self.meanwhile, None
            happening()

    def collections_write(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        self._before_write()
        return super().collections_write(*args, **kwargs)

    def bulk_ingest(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        self._before_write()
        return super().bulk_ingest(*args, **kwargs)


def test_two_push_runs_never_write_a_stale_edit_last(client: SalesforceClient, store: PlatformStore,
                                                     send_sandbox: SandboxInfo, marker: str) -> None:
    [contact_id] = some_ids(client, "Contact", 1)
    receive_ids(client, store, "Contact", [contact_id])
    record_id = store.get_record("end_user", salesforce_id=contact_id)["id"]
    edit_record(store, "end_user", {"title": f"First {marker}"}, actor="user", record_id=record_id)
    first_run = claim_batch(store)

    def second_run() -> None:  # while the first run waits to write: the user edits again, a second run pushes
        edit_record(store, "end_user", {"title": f"Second {marker}"}, actor="user", record_id=record_id)
        push_changes(client, store, batch=claim_batch(store))

    slow = _WritesLater(send_sandbox, second_run)
    try:
        push_changes(slow, store, batch=first_run)
    finally:
        slow.close()
    _push_until_quiet(client, store)
    receive_recent(client, store, "Contact")  # the echoes come back

    assert sf_records(client, "Contact", f"Id = '{contact_id}'", "Title")[0]["Title"] == f"Second {marker}"
    assert store.get_record("end_user", record_id=record_id)["title"] == f"Second {marker}"


@pytest.mark.parametrize(("model", "obj", "title"), [("note", "Note", "Title"), ("task", "Task", "Subject")])
def test_a_note_or_task_is_created_once_when_the_push_dies_before_the_ack(
        model: str, obj: str, title: str, client: SalesforceClient, store: PlatformStore, marker: str) -> None:
    [account_id] = some_ids(client, "Account", 1)
    values = ({"parent_sf_id": account_id, "title": f"Once {marker}", "body": "minutes"} if model == "note"
              else {"subject": f"Once {marker}", "priority": "High"})
    record_id = edit_record(store, model, values, actor="user")

    _killed_after_write(client, store)
    _push_until_quiet(client, store)

    created = sf_records(client, obj, f"{title} = 'Once {marker}'")
    assert len(created) == 1, f"{len(created)} {obj}s in Salesforce for one platform {model}"
    assert store.get_record(model, record_id=record_id)["salesforce_id"] == created[0]["Id"]
    assert store.outbox_entries() == []


def test_a_create_whose_answer_is_lost_is_not_sent_twice(client: SalesforceClient, store: PlatformStore,
                                                         send_sandbox: SandboxInfo, admin: SandboxAdmin,
                                                         marker: str) -> None:
    task = edit_record(store, "task", {"subject": f"Lost {marker}", "priority": "Low"}, actor="user")
    impatient = SalesforceClient(SalesforceConfig.from_env(send_sandbox.env(), **{**FAST, "timeout_seconds": 1.0}))
    impatient.login()
    admin.add_fault("composite/sobjects", "lost", method="POST")  # the create is written, its answer lost
    try:
        push_changes(impatient, store)
    finally:
        impatient.close()
        admin.clear_faults()
    _push_until_quiet(client, store)

    tasks = sf_records(client, "Task", f"Subject = 'Lost {marker}'")
    assert len(tasks) == 1, f"{len(tasks)} Tasks in Salesforce for one platform task"
    assert store.get_record("task", record_id=task)["salesforce_id"] == tasks[0]["Id"]


def test_a_contact_created_by_a_dead_push_is_not_received_as_a_second_row(
        client: SalesforceClient, store: PlatformStore, marker: str) -> None:
    email = f"{marker}@example.com"
    new = edit_record(store, "end_user", {"last_name": f"Twin {marker}", "email": email}, actor="user")
    _killed_after_write(client, store)
    receive_recent(client, store, "Contact")  # a receive tick runs before the push is tried again
    _push_until_quiet(client, store)
    receive_recent(client, store, "Contact")

    contacts = sf_records(client, "Contact", f"Email = '{email}'")
    rows = _rows(store, "end_user", "email", email)
    assert len(contacts) == 1
    assert [(r["id"], r["salesforce_id"]) for r in rows] == [(new, contacts[0]["Id"])]


@pytest.mark.parametrize("backend", [
    "sqlite",
    "postgres",  # ids are never reused there: passes already
])
def test_a_deleted_top_row_does_not_hand_its_key_to_the_next_company(
        backend: str, request: pytest.FixtureRequest, client: SalesforceClient, marker: str) -> None:
    with PlatformStore(request.getfixturevalue(f"{backend}_url"), settings_with()) as store:
        first = edit_record(store, "company", {"name": f"First Co {marker}"}, actor="user")
        push_changes(client, store)
        first_sf = store.get_record("company", record_id=first)["salesforce_id"]
        assert first_sf
        table = store.table("company")
        with store.engine.begin() as conn:  # the application removes its row (the newest one)
            conn.execute(sa.delete(table).where(table.c.id == first))

        second = edit_record(store, "company", {"name": f"Second Co {marker}"}, actor="user")
        push_changes(client, store)

        second_sf = store.get_record("company", record_id=second)["salesforce_id"]
        assert sf_records(client, "Account", f"Id = '{first_sf}'", "Name")[0]["Name"] == f"First Co {marker}"
        assert second_sf and second_sf != first_sf
        assert sf_records(client, "Account", f"Id = '{second_sf}'", "Name")[0]["Name"] == f"Second Co {marker}"


def test_receive_links_an_account_created_by_a_dead_push_to_its_row(client: SalesforceClient,
                                                                     store: PlatformStore, marker: str) -> None:
    name = f"Twin Co {marker}"
    new = edit_record(store, "company", {"name": name, "city": "Lyon"}, actor="user")
    _killed_after_write(client, store)
    receive_recent(client, store, "Account")  # finds the Account carrying the platform's key
    _push_until_quiet(client, store)

    accounts = sf_records(client, "Account", f"Name = '{name}'")
    rows = _rows(store, "company", "name", name)
    assert len(accounts) == 1
    assert [(r["id"], r["salesforce_id"], r["sync_status"]) for r in rows] == [(new, accounts[0]["Id"], "ok")]


def test_a_running_push_keeps_its_claims_past_their_first_lease(store: PlatformStore) -> None:
    """Defect 4: the lease of a long push (a Bulk job may wait minutes) is renewed while it runs, so no
    second run can claim its records; without the keep-alive the claim lapses and is taken over."""
    record = edit_record(store, "company", {"name": "Long push"}, actor="user")
    assert store.claim_records("company", [record], "first", lease_seconds=1)
    keep_alive = _KeepAlive(store, "first")
    keep_alive.interval = 0.2
    with keep_alive:
        time.sleep(1.5)
        assert store.claim_records("company", [record], "second") == {}
    store.claim_records("company", [record], "first", lease_seconds=1)  # the same run: a short lease again
    time.sleep(1.5)
    [taken] = store.claim_records("company", [record], "second").values()
    assert taken.fence == 3  # every claim of a record raises its fence
