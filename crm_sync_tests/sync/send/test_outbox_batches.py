"""Claiming and merging outbox rows on the real platform store (SQLite and Postgres), without Salesforce."""

from __future__ import annotations

from crm_sync.platform import PlatformStore
from crm_sync.sync.send import edit_record
from crm_sync.sync.send.outbox_batches import chunked, claim_batch, claimed_batch, group_by_model
from crm_sync_tests.sync.send.conftest import later


def test_rows_of_one_record_merge_and_a_claim_hides_them_until_its_lease_ends(store: PlatformStore) -> None:
    company = edit_record(store, "company", {"name": "Acme"}, actor="user")
    edit_record(store, "company", {"phone": "+49 30 1"}, actor="user", record_id=company)
    edit_record(store, "company", {"name": "Acme AG"}, actor="user", record_id=company)
    person = edit_record(store, "end_user", {"last_name": "Doe", "email": "doe@example.com"}, actor="user")

    batch = claim_batch(store)
    changes = batch.changes()

    assert len(batch.entries) == 4 and [(c.model, c.record_id) for c in changes] == [("company", company),
                                                                                   ("end_user", person)]
    merged = changes[0]
    assert merged.changed_columns == ["name", "phone"] and len(merged.entry_ids) == 3
    assert merged.changed_at == max(e.created_at for e in batch.entries if e.model == "company")
    assert set(group_by_model(changes)) == {"company", "end_user"}
    assert claim_batch(store).empty  # leased: invisible to a second claimer
    assert len(claimed_batch(store, batch.claim_token).entries) == 4
    assert len(store.outbox_entries()) == 4  # claiming deletes nothing

    again = claim_batch(store, now=later())  # the lease ran out: another run takes the rows over
    assert len(again.entries) == 4 and claimed_batch(store, batch.claim_token).empty
    assert store.complete_outbox([e.id for e in again.entries], batch.claim_token) == 0  # the old claim is void
    assert store.complete_outbox([e.id for e in again.entries], again.claim_token) == 4


def test_chunks_of_200() -> None:
    assert [len(c) for c in chunked(list(range(450)), 200)] == [200, 200, 50]
