"""sObject Collections writes in process (no HTTP), under a clock that stands still: one request mixing good
and bad records answers one result per record and stores exactly the good ones, whichever step a bad one
fails at (parsing, a reference or unique look-up, a write's own statement) and whether a record is new or
was written earlier in the same request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_sync.sandbox import timefmt
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.ids import IdFactory
from crm_sync.sandbox.org import Org
from crm_sync.sandbox.server.api import API_ROUTER
from crm_sync.sandbox.server.dispatch import ApiRequest
from crm_sync.sandbox.store import quote

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UPSERT = "composite/sobjects/Account/External_Id__c"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    opened = Org(tmp_path, clock=lambda: T0)
    try:
        yield opened
    finally:
        opened.close()


def call(org: Org, method: str, path: str, body: Any) -> Any:
    session = org.sessions.issue(org.store.integration_user_id)
    request = ApiRequest(method=method, path=path, version="v59.0", query={}, body=json.dumps(body).encode(),
                         session=session, instance_url="https://sandbox.test")
    return API_ROUTER.dispatch(org, request).body


def accounts(*records: dict, all_or_none: bool = False) -> dict:
    return {"allOrNone": all_or_none, "records": [{"attributes": {"type": "Account"}, **r} for r in records]}


def stored(org: Org, external_id: str) -> dict:
    """The raw row (every column) of the Account with this external id."""
    with org.store.reader() as conn:
        cursor = conn.execute('SELECT * FROM "Account" WHERE External_Id__c = ? COLLATE NOCASE', (external_id,))
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(rows) == 1, rows
    return rows[0]


def codes(results: list[dict]) -> list[str | None]:
    return [None if r["success"] else r["errors"][0]["statusCode"] for r in results]


def test_an_upsert_collection_of_good_and_bad_records(org: Org) -> None:
    missing = IdFactory({"001": 10**6}).new_id("001")
    before = org.store.count("Account")
    records = [
        {"External_Id__c": "K-1", "Name": "first"},
        {"External_Id__c": "K-bad-1", "Name": "x" * 300},                    # refused while parsing
        {"External_Id__c": "K-2", "Name": "second", "NumberOfEmployees": 7},
        {"External_Id__c": "k-1", "Name": "first again"},                    # updates K-1 of this request
        {"External_Id__c": "K-bad-2", "Name": "n", "NumberOfEmployees": "lots"},
        {"External_Id__c": "K-bad-3", "Name": "n", "ParentId": missing},       # refused after a look-up
    ]
    results = call(org, "PATCH", UPSERT, accounts(*records))
    assert codes(results) == [None, "STRING_TOO_LONG", None, None, "INVALID_TYPE_ON_FIELD_IN_RECORD",
                              "INVALID_CROSS_REFERENCE_KEY"]
    assert [r.get("created") for r in results] == [True, None, True, False, None, None]
    assert results[3]["id"] == results[0]["id"]
    assert org.store.count("Account") == before + 2
    first, second = stored(org, "K-1"), stored(org, "K-2")
    assert first["Id"] == results[0]["id"] and first["Name"] == "first again"
    assert (second["Name"], second["NumberOfEmployees"], second["Industry"]) == ("second", 7, None)
    # created and updated in the same millisecond: the update's stamps come a millisecond later
    assert first["CreatedDate"] == timefmt.format_datetime(T0)
    assert first["SystemModstamp"] == first["LastModifiedDate"] == timefmt.format_datetime(T0 + timedelta(milliseconds=1))
    assert second["SystemModstamp"] == second["CreatedDate"] == timefmt.format_datetime(T0)
    assert (first["IsDeleted"], first["_visible_after"], first["_deleted_at"]) == (0, None, None)
    assert first["OwnerId"] == first["CreatedById"] == org.store.integration_user_id

    # creates: a duplicate of an external id written earlier in the same request, a child of a record of the
    # request before, one without an external id, one naming an Id
    results = call(org, "POST", "composite/sobjects", accounts(
        {"External_Id__c": "K-4", "Name": "parent"},
        {"External_Id__c": "k-4", "Name": "duplicate"},
        {"External_Id__c": "K-5", "Name": "child", "ParentId": first["Id"]},
        {"Name": "no external id"},
        {"Name": "bad", "Id": first["Id"]},
    ))
    assert codes(results) == [None, "DUPLICATE_VALUE", None, None, "INVALID_FIELD"]
    assert stored(org, "K-5")["ParentId"] == first["Id"]
    assert org.store.count("Account") == before + 5


def test_an_update_collection_of_good_and_bad_records(org: Org) -> None:
    made = call(org, "POST", "composite/sobjects", accounts(
        *({"External_Id__c": f"U-{n}", "Name": f"u{n}"} for n in range(3))))
    ids = [r["id"] for r in made]
    org.store.delete("Account", ids[2], user_id=org.store.integration_user_id)
    results = call(org, "PATCH", "composite/sobjects", accounts(
        {"Id": ids[0], "Description": "one"},
        {"Id": ids[1], "External_Id__c": "u-0"},          # the unique look-up sees U-0
        {"Id": ids[0], "Description": "two", "Industry": "Media"},
        {"Id": ids[2], "Description": "deleted"},
        {"Id": ids[1], "NumberOfEmployees": 3},
    ))
    assert codes(results) == [None, "DUPLICATE_VALUE", None, "ENTITY_IS_DELETED", None]
    zero, one = stored(org, "U-0"), stored(org, "U-1")
    assert (zero["Description"], zero["Industry"]) == ("two", "Media")
    # created at T0, then updated twice with the clock standing still: a millisecond after each
    assert zero["SystemModstamp"] == timefmt.format_datetime(T0 + timedelta(milliseconds=2))
    assert (one["External_Id__c"], one["NumberOfEmployees"]) == ("U-1", 3)
    assert one["SystemModstamp"] == timefmt.format_datetime(T0 + timedelta(milliseconds=1))

    # an external id no row held, given by one record of the request and claimed again by the next; the
    # deleted record still holds its own
    results = call(org, "PATCH", "composite/sobjects", accounts(
        {"Id": ids[0], "External_Id__c": "FRESH"}, {"Id": ids[1], "External_Id__c": "fresh"}))
    assert codes(results) == [None, "DUPLICATE_VALUE"]
    results = call(org, "PATCH", UPSERT, accounts({"External_Id__c": "u-2", "Name": "again"},
                                                  {"External_Id__c": "U-0", "Name": "was FRESH"}))
    assert codes(results) == ["DUPLICATE_VALUE", None]
    assert results[1]["created"] is True
    assert stored(org, "FRESH")["Id"] == ids[0]


def test_external_ids_differing_beyond_ascii_case_are_different_values(org: Org) -> None:
    """SQLite's NOCASE folds A-Z only: Ü-1 and ü-1 are two records, K-1 and k-1 one."""
    results = call(org, "PATCH", UPSERT, accounts(
        {"External_Id__c": "Ü-1", "Name": "upper"}, {"External_Id__c": "ü-1", "Name": "lower"},
        {"External_Id__c": "K-1", "Name": "k"}, {"External_Id__c": "k-1", "Name": "k again"}))
    assert codes(results) == [None, None, None, None]
    assert [r["created"] for r in results] == [True, True, True, False]
    assert stored(org, "Ü-1")["Name"] == "upper" and stored(org, "ü-1")["Name"] == "lower"


def test_an_update_stamps_after_stored_stamps_of_any_shape(org: Org) -> None:
    """Stamps in the stored form compare as text; any other shape is parsed (a row written around the API)."""
    user = org.store.integration_user_id
    ids = org.store.new_ids("Account", 2)
    later = "2024-05-01T12:00:05.250+0000"
    odd = "2024-05-01T14:00:09.5+02:00"  # 12:00:09.500 UTC, not in the stored form
    org.store.bulk_insert("Account", [(ids[0], "ahead", 0, later, later, user, user, user),
                                      (ids[1], "odd", 0, odd, odd, user, user, user)],
                          ["Id", "Name", "IsDeleted", "LastModifiedDate", "SystemModstamp", "CreatedById",
                           "LastModifiedById", "OwnerId"])
    results = call(org, "PATCH", "composite/sobjects", accounts(
        {"Id": ids[0], "Description": "x"}, {"Id": ids[1], "Description": "y"}))
    assert codes(results) == [None, None]
    with org.store.reader() as conn:
        stamps = dict(conn.execute(f'SELECT Id, SystemModstamp FROM {quote("Account")} WHERE Id IN (?, ?)', ids))
    assert stamps == {ids[0]: "2024-05-01T12:00:05.251+0000", ids[1]: "2024-05-01T12:00:09.501+0000"}


def test_all_or_none_with_a_bad_record_stores_nothing(org: Org) -> None:
    before = org.store.count("Account")
    results = call(org, "PATCH", UPSERT, accounts(
        {"External_Id__c": "A-1", "Name": "a"}, {"External_Id__c": "A-2", "Name": None},
        {"External_Id__c": "A-3", "Name": "c"}, all_or_none=True))
    assert codes(results) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING",
                              "ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert org.store.count("Account") == before


def test_values_known_absent_are_forgotten_once_written_and_when_the_transaction_ends(org: Org) -> None:
    store, user = org.store, org.store.integration_user_id
    made = store.create("Account", {"Name": "holds M-0", "External_Id__c": "M-0"}, user_id=user)
    with store.transaction():
        store.look_up_unique("Account", {"external_id__c": ["M-0", "N-1", "n-2", "Ü-3", ""], "Name": ["x"]})
        assert store._absent == {("Account", "External_Id__c"): {"n-1", "n-2"}}
        created = store.create("Account", {"Name": "a", "External_Id__c": "n-1"}, user_id=user)
        assert store._absent == {("Account", "External_Id__c"): {"n-2"}}
        with pytest.raises(SalesforceError) as duplicate:
            store.create("Account", {"Name": "b", "External_Id__c": "N-1"}, user_id=user)
        assert duplicate.value.error_code == "DUPLICATE_VALUE"
        store.update("Account", made, {"External_Id__c": "N-2"}, user_id=user)
        assert store._absent == {("Account", "External_Id__c"): set()}
        assert store.upsert("Account", "External_Id__c", "n-2", {"Name": "c"}, user_id=user) == (made, False)
    assert store._absent == {}
    assert store.find_by_external("Account", "External_Id__c", "N-1") == created


def test_a_transaction_inside_another_undoes_only_its_own_writes(org: Org) -> None:
    # the invariant an all-or-none collection inside /composite relies on (OrgStore.transaction)
    store, user = org.store, org.store.integration_user_id
    with store.transaction():
        outer = store.create("Account", {"Name": "outer", "External_Id__c": "T-0"}, user_id=user)
        with pytest.raises(SalesforceError), store.transaction():
            store.look_up_unique("Account", {"External_Id__c": ["T-1", "T-2"]})
            store.create("Account", {"Name": "inner", "External_Id__c": "T-1"}, user_id=user)
            store.create("Account", {"Name": None}, user_id=user)
        with store.transaction():
            kept = store.create("Account", {"Name": "kept", "External_Id__c": "T-1"}, user_id=user)
    assert store.find_by_external("Account", "External_Id__c", "T-0") == outer
    assert store.find_by_external("Account", "External_Id__c", "T-1") == kept
    with store.reader() as conn:
        assert conn.execute('SELECT count(*) FROM "Account" WHERE Name = ?', ("inner",)).fetchone()[0] == 0
