"""The data generator: determinism, sizes, relationships, stamps, and values the org itself would accept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_sync.sandbox import timefmt
from crm_sync.sandbox.catalog import CATALOG
from crm_sync.sandbox.generator import SHARES, plan_counts, seed_org
from crm_sync.sandbox.ids import key_prefix
from crm_sync.sandbox.store import Store, convert_value, quote, to_json

RECORDS = 5000
ANCHOR = datetime(2024, 6, 1, tzinfo=UTC)
DAYS = 90
SYSTEM_USERS = ("integration@crm-sync.sandbox", "automation@crm-sync.sandbox")


def store_clock() -> datetime:
    return ANCHOR + timedelta(hours=1)


def seeded_rows(store: Store, obj: str) -> list[dict]:
    """Rows the generator made (the Store's own integration and automation users left out)."""
    return [row for row in rows(store, obj) if row.get("Username") not in SYSTEM_USERS]


def dump(store: Store) -> dict[str, list[tuple]]:
    with store.reader() as conn:
        return {
            sobject.name: conn.execute(f"SELECT * FROM {quote(sobject.name)} ORDER BY Id").fetchall()
            for sobject in CATALOG.objects
        }


def rows(store: Store, obj: str) -> list[dict]:
    with store.reader() as conn:
        cursor = conn.execute(f"SELECT * FROM {quote(obj)}")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("generator") / "org.db"
    with Store(path, clock=store_clock) as store:
        made = seed_org(store, RECORDS, seed=7, anchor=ANCHOR, days=DAYS)
        yield store, made


@pytest.fixture(scope="module")
def seeded_dump(seeded) -> dict[str, list[tuple]]:
    return dump(seeded[0])


def test_the_same_seed_makes_the_same_org_and_another_seed_another(
    tmp_path: Path, seeded, seeded_dump: dict
) -> None:
    with Store(tmp_path / "again.db", clock=store_clock) as again:
        assert seed_org(again, RECORDS, seed=7, anchor=ANCHOR, days=DAYS) == seeded[1]
        assert dump(again) == seeded_dump
    with Store(tmp_path / "other.db", clock=store_clock) as other:
        seed_org(other, RECORDS, seed=8, anchor=ANCHOR, days=DAYS)
        other_dump = dump(other)
    assert other_dump["Contact"] != seeded_dump["Contact"]
    assert len(other_dump["Contact"]) == len(seeded_dump["Contact"])


def test_counts_are_close_to_the_requested_size(seeded) -> None:
    store, made = seeded
    assert made == plan_counts(RECORDS)
    assert abs(sum(made.values()) - RECORDS) <= RECORDS * 0.02
    for obj, share in SHARES.items():
        assert made[obj] == pytest.approx(RECORDS * share, abs=1)
    assert made["User"] == 5
    counts = store.counts()
    assert counts == {name: made[name] + (2 if name == "User" else 0) for name in CATALOG.names()}


def test_plan_has_at_least_five_users_and_one_account() -> None:
    assert plan_counts(10)["User"] == 5 and plan_counts(3)["Account"] == 1
    assert plan_counts(1_000_000)["User"] == 500


def test_every_reference_points_at_an_existing_record_of_the_right_object(seeded) -> None:
    store, _ = seeded
    existing = {sobject.name: {row["Id"] for row in rows(store, sobject.name)} for sobject in CATALOG.objects}
    checked = 0
    for sobject in CATALOG.objects:
        references = [field for field in sobject.fields if field.type == "reference"]
        for record in rows(store, sobject.name):
            for field in references:
                value = record[field.name]
                if value is None:
                    continue
                target = CATALOG.by_prefix(key_prefix(value))
                assert target is not None and target.name in field.reference_to, (sobject.name, field.name, value)
                assert value in existing[target.name], (sobject.name, field.name, value)
                checked += 1
    assert checked > RECORDS * 3


def test_relationships_are_consistent(seeded) -> None:
    store, _ = seeded
    contacts = {row["Id"]: row for row in rows(store, "Contact")}
    users = {row["Id"]: row for row in rows(store, "User")}
    seeded_users = {user_id for user_id, row in users.items() if "@crm-sync-demo" in row["Username"]}
    assert all(row["AccountId"] for row in contacts.values())
    tasks = rows(store, "Task")
    assert all(t["WhatId"] == t["AccountId"] and t["WhatId"].startswith("001") for t in tasks)
    assert all(contacts[t["WhoId"]]["AccountId"] == t["AccountId"] for t in tasks if t["WhoId"])
    assert sum(1 for t in tasks if t["WhoId"]) > len(tasks) * 0.8
    for obj in ("Case", "Asset"):
        related = rows(store, obj)
        assert all(r["AccountId"] for r in related)
        assert all(contacts[r["ContactId"]]["AccountId"] == r["AccountId"] for r in related if r["ContactId"])
    parents = {key_prefix(note["ParentId"]) for note in rows(store, "Note")}
    assert parents == {"001", "003"}
    for obj in ("License__c", "Project__c"):
        assert all(r["Account__c"] for r in rows(store, obj))
    for sobject in CATALOG.objects:
        if sobject.has_owner:
            assert {r["OwnerId"] for r in rows(store, sobject.name)} <= seeded_users
    assert all(users[user_id]["IsActive"] == 1 for user_id in seeded_users)


def test_stamps_are_ordered_and_inside_the_window(seeded) -> None:
    store, _ = seeded
    start = timefmt.format_datetime(ANCHOR - timedelta(days=DAYS))
    end = timefmt.format_datetime(ANCHOR)
    automated = total = 0
    for sobject in CATALOG.objects:
        for record in seeded_rows(store, sobject.name):
            created, modified, system = record["CreatedDate"], record["LastModifiedDate"], record["SystemModstamp"]
            for text in (created, modified, system):
                assert timefmt.format_datetime(timefmt.parse_datetime(text)) == text
            assert created <= modified <= system < end
            if sobject.name != "User":
                assert created >= start
                total += 1
                automated += system > modified
    assert 0.08 < automated / total < 0.25


def test_children_are_created_after_their_parents(seeded) -> None:
    store, _ = seeded
    accounts = {row["Id"]: row["CreatedDate"] for row in rows(store, "Account")}
    contacts = {row["Id"]: row["CreatedDate"] for row in rows(store, "Contact")}
    assert all(accounts[row["AccountId"]] <= row["CreatedDate"] for row in rows(store, "Contact"))
    for case in rows(store, "Case"):
        assert accounts[case["AccountId"]] <= case["CreatedDate"]
        assert case["ContactId"] is None or contacts[case["ContactId"]] <= case["CreatedDate"]


def test_emails_and_external_ids(seeded) -> None:
    store, _ = seeded
    contacts = rows(store, "Contact")
    emails = [row["Email"] for row in contacts if row["Email"]]
    missing = len(contacts) - len(emails)
    assert 0 < missing < len(contacts) * 0.06
    assert len(set(emails)) / len(emails) > 0.97
    for obj in ("Account", "Contact"):
        external = [row["External_Id__c"] for row in rows(store, obj) if row["External_Id__c"]]
        assert len(external) > 0.8 * len(rows(store, obj))
        assert len(set(external)) == len(external)


def test_every_value_is_one_the_org_accepts_and_derived_fields_agree(seeded) -> None:
    """Each stored value survives the Store's own validation unchanged (types, lengths, emails)."""
    store, _ = seeded
    for sobject in CATALOG.objects:
        for record in seeded_rows(store, sobject.name):
            for field in sobject.fields:
                stored = record[field.name]
                assert convert_value(field, to_json(field, stored)) == stored, (sobject.name, field.name)
                if field.type == "boolean" or not field.nillable:
                    assert stored is not None, (sobject.name, field.name)
            if sobject.name in ("User", "Contact", "Lead"):
                assert record["Name"] == f"{record['FirstName']} {record['LastName']}"
    for task in rows(store, "Task"):
        assert task["IsClosed"] == (task["Status"] == "Completed")
    for case in rows(store, "Case"):
        assert case["IsClosed"] == (case["Status"] == "Closed")
        assert (case["ClosedDate"] is not None) == bool(case["IsClosed"])


def test_the_seeded_org_keeps_working_through_the_store(tmp_path: Path) -> None:
    with Store(tmp_path / "small.db") as store:
        made = seed_org(store, 300, seed=3)  # default anchor: today 00:00 UTC
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        assert max(r["SystemModstamp"] for r in rows(store, "Account")) < timefmt.format_datetime(today)
        user = store.integration_user_id
        account = store.create("Account", {"Name": "After seeding"}, user_id=user)
        assert account > max(r["Id"] for r in rows(store, "Account") if r["Id"] != account)
        case = store.create("Case", {"AccountId": account}, user_id=user)
        assert int(store.get("Case", case, ["CaseNumber"])["CaseNumber"]) == 1000 + made["Case"]
        contact = rows(store, "Contact")[0]["Id"]
        store.update("Contact", contact, {"Title": "CFO"}, user_id=user)
        assert store.get("Contact", contact, ["Title"])["Title"] == "CFO"
