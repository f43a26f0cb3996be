"""The Store: Salesforce's write semantics, its errors, the recycle bin, automation, rules and threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_sync.sandbox import timefmt
from crm_sync.sandbox.catalog import CATALOG, USER, Catalog, Field, SObject
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.ids import IdFactory, is_valid_id
from crm_sync.sandbox.rules import Rules
from crm_sync.sandbox.soql.compiler import compile_soql
from crm_sync.sandbox.store import (
    AUTOMATION_USERNAME,
    INTEGRATION_USERNAME,
    VISIBLE_SQL,
    Store,
    convert_value,
    converter,
    quote,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand (it stands still unless told)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def stamp(value: datetime) -> str:
    return timefmt.format_datetime(value)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock):
    with Store(tmp_path / "org.db", clock=clock) as opened:
        yield opened


@pytest.fixture
def user(store: Store) -> str:
    return store.integration_user_id


@pytest.fixture
def account(store: Store, user: str) -> str:
    return store.create("Account", {"Name": "Acme", "External_Id__c": "ACC-1"}, user_id=user)


@pytest.fixture
def contact(store: Store, user: str, account: str) -> str:
    return store.create("Contact", {"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account}, user_id=user)


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, to prove that a failed write wrote nothing."""
    with store.reader() as conn:
        return {
            sobject.name: conn.execute(f"SELECT * FROM {quote(sobject.name)} ORDER BY Id").fetchall()
            for sobject in store.catalog.objects
        }


def expect_error(store: Store, call, status: int, code: str, fields: list[str] | None = None) -> SalesforceError:
    """Run a failing write; check Salesforce's status, code and fields, and that nothing changed."""
    before = snapshot(store)
    with pytest.raises(SalesforceError) as caught:
        call()
    error = caught.value
    assert (error.status, error.error_code) == (status, code), error
    if fields is not None:
        assert error.fields == fields
    assert snapshot(store) == before
    return error


def row(store: Store, obj: str, record_id: str) -> dict:
    """The raw stored row, hidden columns included."""
    with store.reader() as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute(f"SELECT * FROM {quote(obj)} WHERE Id = ?", (record_id,)).fetchone()
        return dict(found) if found else {}


# ----- schema and users ----------------------------------------------------------------------------


def test_schema_has_one_table_per_object_with_hidden_columns_indexes_and_wal(store: Store) -> None:
    with store.reader() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for sobject in CATALOG.objects:
            info = {r[1]: r for r in conn.execute(f"PRAGMA table_info({quote(sobject.name)})")}
            assert list(info) == sobject.field_names + ["_visible_after", "_deleted_at"]
            for field in sobject.fields:
                assert info[field.name][2] == field.sqlite_type
            assert info["Id"][5] == 1  # primary key
            indexed = {
                conn.execute(f"PRAGMA index_info({quote(index[1])})").fetchone()[2]
                for index in conn.execute(f"PRAGMA index_list({quote(sobject.name)})")
            }
            expected = {"SystemModstamp", "LastModifiedDate", "IsDeleted"}
            expected |= {f.name for f in sobject.fields if f.type == "reference" or f.external_id or f.unique}
            assert expected <= indexed


def test_integration_and_automation_users_exist(store: Store) -> None:
    integration = store.get("User", store.integration_user_id)
    assert integration["Username"] == INTEGRATION_USERNAME
    assert (integration["LastName"], integration["Alias"], integration["Email"]) == (
        "Integration", "integ", INTEGRATION_USERNAME,
    )
    assert integration["IsActive"] is True and integration["Name"] == "Integration"
    automation = store.get("User", store.automation_user_id)
    assert automation["Username"] == AUTOMATION_USERNAME
    assert store.counts()["User"] == 2


def test_unknown_object_is_invalid_type(store: Store, user: str) -> None:
    expect_error(store, lambda: store.create("Widget", {"Name": "x"}, user_id=user), 400, "INVALID_TYPE")


# ----- create ---------------------------------------------------------------------------------------


def test_create_sets_id_stamps_users_owner_and_defaults(store: Store, user: str) -> None:
    lead_id = store.create("Lead", {"LastName": "Turing", "Company": "Bletchley"}, user_id=user)
    assert is_valid_id(lead_id) and lead_id.startswith("00Q") and len(lead_id) == 18
    lead = store.get("Lead", lead_id)
    assert lead["CreatedDate"] == lead["LastModifiedDate"] == lead["SystemModstamp"] == stamp(T0)
    assert lead["CreatedById"] == lead["LastModifiedById"] == lead["OwnerId"] == user
    assert lead["Status"] == "Open - Not Contacted"  # catalog default
    assert lead["IsConverted"] is False and lead["IsDeleted"] is False
    assert lead["Name"] == "Turing"


def test_create_with_an_explicit_owner(store: Store, user: str) -> None:
    owner = store.create(
        "User", {"Username": "ann@x.test", "LastName": "Ann", "Email": "ann@x.test", "Alias": "ann"}, user_id=user
    )
    account_id = store.create("Account", {"Name": "Owned", "OwnerId": owner}, user_id=user)
    assert store.get("Account", account_id, ["OwnerId"]) == {"OwnerId": owner}


def test_full_name_is_computed_for_contact_lead_and_user(store: Store, contact: str, user: str) -> None:
    assert store.get("Contact", contact, ["Name"])["Name"] == "Ada Lovelace"
    store.update("Contact", contact, {"FirstName": "Augusta"}, user_id=user)
    assert store.get("Contact", contact, ["Name"])["Name"] == "Augusta Lovelace"
    store.update("Contact", contact, {"FirstName": None}, user_id=user)
    assert store.get("Contact", contact, ["Name"])["Name"] == "Lovelace"


def test_case_numbers_count_up_and_closing_sets_closed_date(store: Store, user: str, clock: FakeClock) -> None:
    first = store.create("Case", {"Subject": "a"}, user_id=user)
    second = store.create("Case", {"Subject": "b", "Status": "Closed"}, user_id=user)
    assert store.get("Case", first, ["CaseNumber"])["CaseNumber"] == "00001000"
    closed = store.get("Case", second, ["CaseNumber", "IsClosed", "ClosedDate", "Status", "Priority"])
    assert closed == {"CaseNumber": "00001001", "IsClosed": True, "ClosedDate": stamp(T0),
                      "Status": "Closed", "Priority": "Medium"}
    assert store.get("Case", first, ["IsClosed", "ClosedDate"]) == {"IsClosed": False, "ClosedDate": None}
    closed_at = clock.advance(hours=1)
    store.update("Case", first, {"Status": "Closed"}, user_id=user)
    assert store.get("Case", first, ["ClosedDate"])["ClosedDate"] == stamp(closed_at)
    clock.advance(hours=1)
    store.update("Case", first, {"Priority": "High"}, user_id=user)  # stays closed: date kept
    assert store.get("Case", first, ["ClosedDate"])["ClosedDate"] == stamp(closed_at)
    store.update("Case", first, {"Status": "Working"}, user_id=user)
    assert store.get("Case", first, ["IsClosed", "ClosedDate"]) == {"IsClosed": False, "ClosedDate": None}


def test_task_account_comes_from_what_or_from_the_who_contact(
    store: Store, user: str, account: str, contact: str
) -> None:
    on_account = store.create("Task", {"WhatId": account, "Subject": "call"}, user_id=user)
    on_contact = store.create("Task", {"WhoId": contact, "Subject": "mail", "Status": "Completed"}, user_id=user)
    case_id = store.create("Case", {"AccountId": account}, user_id=user)
    on_case = store.create("Task", {"WhatId": case_id}, user_id=user)
    loose = store.create("Task", {"Subject": "alone"}, user_id=user)
    assert store.get("Task", on_account, ["AccountId", "IsClosed", "Priority", "Status"]) == {
        "AccountId": account, "IsClosed": False, "Priority": "Normal", "Status": "Not Started",
    }
    assert store.get("Task", on_contact, ["AccountId", "IsClosed"]) == {"AccountId": account, "IsClosed": True}
    assert store.get("Task", on_case, ["AccountId"])["AccountId"] == account
    assert store.get("Task", loose, ["AccountId"])["AccountId"] is None
    store.update("Task", loose, {"WhoId": contact}, user_id=user)
    assert store.get("Task", loose, ["AccountId"])["AccountId"] == account


def test_values_are_accepted_in_json_and_csv_forms(store: Store, user: str, account: str) -> None:
    store.update(
        "Account", account,
        {"numberofemployees": "42", "AnnualRevenue": "1234.5", "Health_Score__c": 7, "ParentId": None,
         "Description": "", "attributes": {"type": "Account"}},
        user_id=user,
    )
    assert store.get("Account", account, ["NumberOfEmployees", "AnnualRevenue", "Health_Score__c", "Description"]) == {
        "NumberOfEmployees": 42, "AnnualRevenue": 1234.5, "Health_Score__c": 7.0, "Description": None,
    }
    contact_id = store.create(
        "Contact",
        {"LastName": "X", "HasOptedOutOfEmail": "TRUE", "Birthdate": "1990-02-03", "AccountId": account[:15]},
        user_id=user,
    )
    assert store.get("Contact", contact_id, ["HasOptedOutOfEmail", "Birthdate", "AccountId"]) == {
        "HasOptedOutOfEmail": True, "Birthdate": "1990-02-03", "AccountId": account,
    }
    store.update("Contact", contact_id, {"HasOptedOutOfEmail": 0}, user_id=user)
    assert store.get("Contact", contact_id, ["HasOptedOutOfEmail"])["HasOptedOutOfEmail"] is False


def _outcome(convert, value: object) -> object:
    try:
        return ("ok", convert(value))
    except SalesforceError as error:
        return ("error", error.status, error.error_code, str(error), error.fields)


def test_a_plans_converter_converts_as_convert_value_does() -> None:
    values = [None, "", " ", "text", "x" * 300, "TRUE", "0", 1, 0, 2, 1.5, float("nan"), True, False, "12", "1e3",
              "2024-05-01", "2024-05-01T12:30:00Z", "2024-13-01", "ada@example.com", "not-an-email", {}, [],
              {"a": 1}, ["x"], "001000000000000AAA", "0018a0000000001", "001000000000000aaa"]
    for sobject in CATALOG.objects:
        for field in sobject.fields:
            convert = converter(field)
            for value in values:
                assert _outcome(convert, value) == _outcome(lambda v, f=field: convert_value(f, v), value), (
                    sobject.name, field.name, value)


def test_datetime_and_date_conversion() -> None:
    when = Field("When__c", "datetime", "When")
    assert convert_value(when, "2024-05-01T14:30:00+02:00") == "2024-05-01T12:30:00.000+0000"
    assert convert_value(when, "2024-05-01T12:30:00.123456Z") == "2024-05-01T12:30:00.123+0000"
    assert convert_value(when, T0) == "2024-05-01T12:00:00.000+0000"
    assert convert_value(when, "") is None
    for bad in ("2024-05-01", "yesterday", "2024-13-01T00:00:00Z", 5):
        with pytest.raises(SalesforceError) as caught:
            convert_value(when, bad)
        assert (caught.value.error_code, caught.value.fields) == ("INVALID_TYPE_ON_FIELD_IN_RECORD", ["When__c"])
    day = Field("Day__c", "date", "Day")
    assert convert_value(day, " 2024-02-29 ") == "2024-02-29"
    assert convert_value(day, T0.date()) == "2024-05-01"


def test_numbers_as_text_in_text_fields(store: Store, user: str) -> None:
    lead_id = store.create("Lead", {"LastName": "L", "Company": "C", "Title": 12}, user_id=user)
    assert store.get("Lead", lead_id, ["Title"])["Title"] == "12"


# ----- validation errors -----------------------------------------------------------------------------


def test_unknown_field(store: Store, user: str, account: str) -> None:
    error = expect_error(store, lambda: store.create("Account", {"Name": "x", "Foo": 1}, user_id=user),
                         400, "INVALID_FIELD")
    assert error.message == "No such column 'Foo' on sobject of type Account"
    expect_error(store, lambda: store.update("Account", account, {"_deleted_at": "x"}, user_id=user),
                 400, "INVALID_FIELD")


@pytest.mark.parametrize(
    ("obj", "values", "locked"),
    [
        ("Account", {"Name": "x", "IsDeleted": True}, ["IsDeleted"]),
        ("Account", {"Name": "x", "CreatedDate": "2024-01-01T00:00:00Z", "SystemModstamp": None},
         ["CreatedDate", "SystemModstamp"]),
        ("Contact", {"LastName": "x", "Name": "x y"}, ["Name"]),
        ("Case", {"CaseNumber": "1"}, ["CaseNumber"]),
        ("Task", {"IsClosed": True}, ["IsClosed"]),
    ],
)
def test_not_createable_fields(store: Store, user: str, obj: str, values: dict, locked: list[str]) -> None:
    error = expect_error(store, lambda: store.create(obj, values, user_id=user),
                         400, "INVALID_FIELD_FOR_INSERT_UPDATE", locked)
    assert error.message.startswith(f"Unable to create/update fields: {', '.join(locked)}. Please check")


def test_not_updateable_fields(store: Store, user: str, account: str) -> None:
    note = store.create("Note", {"ParentId": account, "Title": "t"}, user_id=user)
    expect_error(store, lambda: store.update("Note", note, {"ParentId": account}, user_id=user),
                 400, "INVALID_FIELD_FOR_INSERT_UPDATE", ["ParentId"])
    lead = store.create("Lead", {"LastName": "x", "Company": "c"}, user_id=user)
    expect_error(store, lambda: store.update("Lead", lead, {"IsConverted": True}, user_id=user),
                 400, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsConverted"])


def test_id_in_the_body(store: Store, user: str, account: str) -> None:
    expect_error(store, lambda: store.create("Account", {"Name": "x", "Id": account}, user_id=user),
                 400, "INVALID_FIELD")
    store.update("Account", account, {"Id": account, "Name": "Same Id is fine"}, user_id=user)
    other = store.create("Account", {"Name": "other"}, user_id=user)
    expect_error(store, lambda: store.update("Account", account, {"Id": other}, user_id=user), 400, "INVALID_FIELD")


@pytest.mark.parametrize(
    ("obj", "values", "field"),
    [
        ("Account", {"Name": "x", "NumberOfEmployees": "many"}, "NumberOfEmployees"),
        ("Account", {"Name": "x", "NumberOfEmployees": 1.5}, "NumberOfEmployees"),
        ("Account", {"Name": "x", "AnnualRevenue": "1,000"}, "AnnualRevenue"),
        ("Account", {"Name": "x", "Health_Score__c": True}, "Health_Score__c"),
        ("Account", {"Name": "x", "Health_Score__c": "NaN"}, "Health_Score__c"),
        ("Contact", {"LastName": "x", "Birthdate": "03/02/1990"}, "Birthdate"),
        ("Contact", {"LastName": "x", "Birthdate": "1990-02-30"}, "Birthdate"),
        ("Contact", {"LastName": "x", "Birthdate": "1990-02-03T00:00:00Z"}, "Birthdate"),
        ("Contact", {"LastName": "x", "HasOptedOutOfEmail": "yes"}, "HasOptedOutOfEmail"),
        ("Contact", {"LastName": "x", "HasOptedOutOfEmail": 2}, "HasOptedOutOfEmail"),
    ],
)
def test_wrong_types(store: Store, user: str, obj: str, values: dict, field: str) -> None:
    error = expect_error(store, lambda: store.create(obj, values, user_id=user),
                         400, "INVALID_TYPE_ON_FIELD_IN_RECORD", [field])
    assert "value not of required type" in error.message


def test_automation_changes_are_validated(store: Store, account: str) -> None:
    expect_error(store, lambda: store.run_automation("Account", changes={"Health_Score__c": "x"}),
                 400, "INVALID_TYPE_ON_FIELD_IN_RECORD", ["Health_Score__c"])


def test_objects_and_arrays_are_json_parser_errors(store: Store, user: str) -> None:
    expect_error(store, lambda: store.create("Account", {"Name": {"x": 1}}, user_id=user),
                 400, "JSON_PARSER_ERROR", ["Name"])
    expect_error(store, lambda: store.create("Account", ["Name"], user_id=user), 400, "JSON_PARSER_ERROR")


def test_string_too_long(store: Store, user: str) -> None:
    error = expect_error(store, lambda: store.create("Account", {"Name": "x" * 256}, user_id=user),
                         400, "STRING_TOO_LONG", ["Name"])
    assert error.message == f"Account Name: data value too large: {'x' * 256} (max length=255)"
    store.create("Account", {"Name": "x" * 255}, user_id=user)


def test_invalid_email(store: Store, user: str) -> None:
    expect_error(store, lambda: store.create("Contact", {"LastName": "x", "Email": "not-an-email"}, user_id=user),
                 400, "INVALID_EMAIL_ADDRESS", ["Email"])


def test_unknown_picklist_values_are_accepted(store: Store, user: str) -> None:
    account_id = store.create("Account", {"Name": "x", "Industry": "Space Mining"}, user_id=user)
    assert store.get("Account", account_id, ["Industry"])["Industry"] == "Space Mining"


def test_bad_references(store: Store, user: str, account: str, contact: str) -> None:
    expect_error(store, lambda: store.create("Contact", {"LastName": "x", "AccountId": "nope"}, user_id=user),
                 400, "MALFORMED_ID", ["AccountId"])
    expect_error(store, lambda: store.create("Contact", {"LastName": "x", "AccountId": contact}, user_id=user),
                 400, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"])
    missing = IdFactory({"001": 999}).new_id("001")
    error = expect_error(store, lambda: store.create("Contact", {"LastName": "x", "AccountId": missing}, user_id=user),
                         400, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"])
    assert error.message == "invalid cross reference id"
    expect_error(store, lambda: store.update("Contact", contact, {"OwnerId": account}, user_id=user),
                 400, "INVALID_CROSS_REFERENCE_KEY", ["OwnerId"])
    store.delete("Account", account, user_id=user)
    expect_error(store, lambda: store.update("Contact", contact, {"AccountId": account}, user_id=user),
                 400, "ENTITY_IS_DELETED", ["AccountId"])


def test_inactive_owner(store: Store, user: str, account: str) -> None:
    inactive = store.create("User", {"Username": "gone@x.test", "LastName": "Gone", "Email": "gone@x.test",
                                     "Alias": "gone", "IsActive": False}, user_id=user)
    expect_error(store, lambda: store.update("Account", account, {"OwnerId": inactive}, user_id=user),
                 400, "INACTIVE_OWNER_OR_USER", ["OwnerId"])


def test_required_fields(store: Store, user: str, contact: str) -> None:
    error = expect_error(store, lambda: store.create("Lead", {"FirstName": "x"}, user_id=user),
                         400, "REQUIRED_FIELD_MISSING", ["LastName", "Company"])
    assert error.message == "Required fields are missing: [LastName, Company]"
    expect_error(store, lambda: store.create("Contact", {"LastName": "  "}, user_id=user),
                 400, "REQUIRED_FIELD_MISSING", ["LastName"])
    expect_error(store, lambda: store.update("Contact", contact, {"LastName": None}, user_id=user),
                 400, "REQUIRED_FIELD_MISSING", ["LastName"])
    expect_error(store, lambda: store.create("Note", {"Title": "orphan"}, user_id=user),
                 400, "REQUIRED_FIELD_MISSING", ["ParentId"])


def test_not_found(store: Store, user: str, account: str) -> None:
    missing = IdFactory({"001": 999}).new_id("001")
    for call in (
        lambda: store.update("Account", missing, {"Name": "x"}, user_id=user),
        lambda: store.update("Account", "garbage", {"Name": "x"}, user_id=user),
        lambda: store.update("Contact", account, {"LastName": "x"}, user_id=user),  # an Account Id
        lambda: store.delete("Account", missing, user_id=user),
        lambda: store.undelete("Account", missing, user_id=user),
        lambda: store.get("Account", missing),
    ):
        error = expect_error(store, call, 404, "NOT_FOUND")
        assert error.message == "The requested resource does not exist"


def test_unique_values_are_case_insensitive(store: Store, user: str, account: str) -> None:
    error = expect_error(store, lambda: store.create("Account", {"Name": "y", "External_Id__c": "acc-1"}, user_id=user),
                         400, "DUPLICATE_VALUE")
    assert error.message == f"duplicate value found: External_Id__c duplicates value on record with id: {account}"
    other = store.create("Account", {"Name": "z", "External_Id__c": "ACC-2"}, user_id=user)
    expect_error(store, lambda: store.update("Account", other, {"External_Id__c": "Acc-1"}, user_id=user),
                 400, "DUPLICATE_VALUE")
    store.update("Account", account, {"External_Id__c": "ACC-1"}, user_id=user)  # its own value is fine
    expect_error(store, lambda: store.create("User", {"Username": INTEGRATION_USERNAME.upper(), "LastName": "x",
                                                      "Email": "a@b.test", "Alias": "x"}, user_id=user),
                 400, "DUPLICATE_VALUE")


# ----- update ---------------------------------------------------------------------------------------


def test_update_bumps_modstamps_and_last_modified_by(store: Store, account: str, clock: FakeClock) -> None:
    later = clock.advance(minutes=5)
    store.update("Account", account, {"Name": "Acme 2"}, user_id=store.automation_user_id)
    record = store.get("Account", account)
    assert record["Name"] == "Acme 2"
    assert record["LastModifiedDate"] == record["SystemModstamp"] == stamp(later)
    assert record["CreatedDate"] == stamp(T0)
    assert record["LastModifiedById"] == store.automation_user_id
    assert record["CreatedById"] == store.integration_user_id


def test_modstamps_strictly_increase_when_the_clock_stands_still(store: Store, user: str, account: str) -> None:
    seen = [store.get("Account", account)["SystemModstamp"]]
    for n in range(3):
        store.update("Account", account, {"Description": str(n)}, user_id=user)
        seen.append(store.get("Account", account)["SystemModstamp"])
    store.run_automation("Account", ids=[account])
    seen.append(store.get("Account", account)["SystemModstamp"])
    store.delete("Account", account, user_id=user)
    store.undelete("Account", account, user_id=user)
    seen.append(store.get("Account", account)["SystemModstamp"])
    assert seen == sorted(set(seen))
    assert seen[1] == stamp(T0 + timedelta(milliseconds=1))


def test_sub_millisecond_clock_values_are_truncated(store: Store, user: str, clock: FakeClock) -> None:
    clock.now = T0 + timedelta(microseconds=1999)
    lead = store.create("Lead", {"LastName": "x", "Company": "c"}, user_id=user)
    assert store.get("Lead", lead)["CreatedDate"] == "2024-05-01T12:00:00.001+0000"


# ----- upsert -----------------------------------------------------------------------------------------


def test_upsert_creates_then_updates(store: Store, user: str, clock: FakeClock) -> None:
    record_id, created = store.upsert("Contact", "external_id__c", "C-9", {"LastName": "New"}, user_id=user)
    assert created
    assert store.get("Contact", record_id, ["External_Id__c", "LastName"]) == {
        "External_Id__c": "C-9", "LastName": "New",
    }
    clock.advance(seconds=1)
    again, created = store.upsert("Contact", "External_Id__c", "c-9",
                                  {"LastName": "Updated", "External_Id__c": "C-9"}, user_id=user)
    assert (again, created) == (record_id, False)
    assert store.get("Contact", record_id, ["LastName", "External_Id__c"]) == {
        "LastName": "Updated", "External_Id__c": "C-9",
    }
    assert store.find_by_external("Contact", "External_Id__c", "C-9") == record_id
    assert store.find_by_external("Contact", "External_Id__c", "C-10") is None


def test_upsert_by_id(store: Store, user: str, account: str) -> None:
    assert store.upsert("Account", "Id", account, {"Name": "By Id"}, user_id=user) == (account, False)
    missing = IdFactory({"001": 999}).new_id("001")
    expect_error(store, lambda: store.upsert("Account", "Id", missing, {"Name": "x"}, user_id=user), 404, "NOT_FOUND")


def test_upsert_errors(store: Store, user: str, account: str) -> None:
    expect_error(store, lambda: store.upsert("Account", "Name", "Acme", {"Name": "x"}, user_id=user),
                 400, "INVALID_FIELD")
    expect_error(store, lambda: store.upsert("Account", "Nope__c", "1", {"Name": "x"}, user_id=user),
                 400, "INVALID_FIELD")
    expect_error(store, lambda: store.upsert("Account", "External_Id__c", "ACC-1", {"Bad": 1}, user_id=user),
                 400, "INVALID_FIELD")
    expect_error(store, lambda: store.upsert("Account", "External_Id__c", "NEW", {}, user_id=user),
                 400, "REQUIRED_FIELD_MISSING", ["Name"])


def test_upsert_matching_several_records_is_multiple_choices(tmp_path: Path) -> None:
    system = [field for field in CATALOG.get("Account").fields if not field.createable]
    widget = SObject("Widget__c", "a0W", "Widget", "Widgets", (
        *system,
        Field("Name", "string", length=80),
        Field("Code__c", "string", length=20, custom=True, external_id=True),  # external id, not unique
    ), custom=True)
    with Store(tmp_path / "widgets.db", Catalog([USER, widget])) as store:
        user = store.integration_user_id
        first = store.create("Widget__c", {"Name": "a", "Code__c": "W"}, user_id=user)
        store.create("Widget__c", {"Name": "b", "Code__c": "w"}, user_id=user)
        error = expect_error(store, lambda: store.upsert("Widget__c", "Code__c", "W", {"Name": "c"}, user_id=user),
                             300, "MULTIPLE_CHOICES")
        assert first in error.message
        with pytest.raises(SalesforceError) as caught:
            store.find_by_external("Widget__c", "Code__c", "w")
        assert caught.value.status == 300


# ----- recycle bin ----------------------------------------------------------------------------------


def test_delete_and_undelete(store: Store, user: str, account: str, clock: FakeClock) -> None:
    deleted_at = clock.advance(minutes=1)
    store.delete("Account", account, user_id=store.automation_user_id)
    stored = row(store, "Account", account)
    assert stored["IsDeleted"] == 1 and stored["_deleted_at"] == stamp(deleted_at)
    assert stored["LastModifiedDate"] == stored["SystemModstamp"] == stamp(deleted_at)
    assert stored["LastModifiedById"] == store.automation_user_id
    expect_error(store, lambda: store.get("Account", account), 404, "NOT_FOUND")
    expect_error(store, lambda: store.delete("Account", account, user_id=user), 404, "ENTITY_IS_DELETED")
    expect_error(store, lambda: store.update("Account", account, {"Name": "x"}, user_id=user), 404, "ENTITY_IS_DELETED")
    assert store.count("Account") == 0 and store.count("Account", include_deleted=True) == 1
    assert store.find_by_external("Account", "External_Id__c", "ACC-1") is None
    # the recycle bin still holds the unique value, as in Salesforce
    expect_error(store, lambda: store.upsert("Account", "External_Id__c", "ACC-1", {"Name": "x"}, user_id=user),
                 400, "DUPLICATE_VALUE")

    restored_at = clock.advance(minutes=1)
    store.undelete("Account", account, user_id=user)
    record = store.get("Account", account)
    assert record["IsDeleted"] is False and record["SystemModstamp"] == stamp(restored_at)
    assert row(store, "Account", account)["_deleted_at"] is None
    expect_error(store, lambda: store.undelete("Account", account, user_id=user), 400, "UNDELETE_FAILED")


def test_deleted_and_updated_windows(store: Store, user: str, clock: FakeClock) -> None:
    first = store.create("Lead", {"LastName": "a", "Company": "c"}, user_id=user)  # T0
    clock.advance(minutes=10)
    second = store.create("Lead", {"LastName": "b", "Company": "c"}, user_id=user)  # T0+10
    clock.advance(minutes=10)
    third = store.create("Lead", {"LastName": "c", "Company": "c"}, user_id=user)  # T0+20
    assert store.updated("Lead", T0, T0 + timedelta(minutes=20)) == [first, second, third]
    assert store.updated("Lead", T0 + timedelta(minutes=10), T0 + timedelta(minutes=10)) == [second]
    assert store.updated("Lead", T0 + timedelta(minutes=1), T0 + timedelta(minutes=9)) == []
    clock.advance(minutes=10)
    store.delete("Lead", second, user_id=user)  # T0+30
    assert store.updated("Lead", T0, T0 + timedelta(hours=1)) == [first, third]
    assert store.deleted("Lead", T0 + timedelta(minutes=30), T0 + timedelta(minutes=30)) == [
        {"id": second, "deletedDate": stamp(T0 + timedelta(minutes=30))}
    ]
    assert store.deleted("Lead", T0, T0 + timedelta(minutes=29)) == []


def test_hard_delete_and_emptied_bin_leave_query_all_and_stay_in_deleted(store: Store, user: str,
                                                                         clock: FakeClock) -> None:
    live, binned, kept = (store.create("Lead", {"LastName": n, "Company": "c"}, user_id=user) for n in "abc")
    clock.advance(minutes=10)
    store.delete("Lead", binned, user_id=user)  # T0+10: recycle bin
    clock.advance(minutes=10)
    store.hard_delete("Lead", live, user_id=user)  # T0+20
    assert store.empty_recycle_bin([binned]) == [binned]
    assert store.count("Lead", include_deleted=True) == 1 and row(store, "Lead", kept)["IsDeleted"] == 0
    assert store.deleted("Lead", T0, T0 + timedelta(hours=1)) == [
        {"id": binned, "deletedDate": stamp(T0 + timedelta(minutes=10))},  # its recycle-bin time
        {"id": live, "deletedDate": stamp(T0 + timedelta(minutes=20))},
    ]
    assert store.deleted("Lead", T0 + timedelta(minutes=11), T0 + timedelta(minutes=19)) == []
    expect_error(store, lambda: store.get("Lead", live), 404, "NOT_FOUND")
    expect_error(store, lambda: store.hard_delete("Lead", live, user_id=user), 404, "NOT_FOUND")
    expect_error(store, lambda: store.undelete("Lead", binned, user_id=user), 404, "NOT_FOUND")
    store.reset()
    assert store.deleted("Lead", T0, T0 + timedelta(hours=1)) == []


def test_empty_recycle_bin_without_ids_empties_every_object(store: Store, user: str, account: str) -> None:
    lead = store.create("Lead", {"LastName": "a", "Company": "c"}, user_id=user)
    store.delete("Lead", lead, user_id=user)
    store.delete("Account", account, user_id=user)
    assert sorted(store.empty_recycle_bin()) == sorted([lead, account])
    assert store.count("Lead", include_deleted=True) == store.count("Account", include_deleted=True) == 0
    assert store.empty_recycle_bin() == []


def test_a_hard_deleted_id_is_never_handed_out_again(tmp_path: Path, clock: FakeClock) -> None:
    with Store(tmp_path / "org.db", clock=clock) as first:
        newest = first.create("Lead", {"LastName": "a", "Company": "c"}, user_id=first.integration_user_id)
        first.hard_delete("Lead", newest, user_id=first.integration_user_id)
    with Store(tmp_path / "org.db", clock=clock) as reopened:  # no memory of the Ids it handed out
        again = reopened.create("Lead", {"LastName": "b", "Company": "c"}, user_id=reopened.integration_user_id)
    assert again != newest and IdFactory.sequence_of(again) > IdFactory.sequence_of(newest)


# ----- automation ---------------------------------------------------------------------------------


def test_automation_bumps_only_system_modstamp(store: Store, user: str, account: str, clock: FakeClock) -> None:
    before = store.get("Account", account)
    later = clock.advance(minutes=3)
    assert store.run_automation("Account") == [account]
    after = store.get("Account", account)
    assert after["SystemModstamp"] == stamp(later)
    assert after["LastModifiedDate"] == before["LastModifiedDate"]
    assert after["LastModifiedById"] == before["LastModifiedById"] == user
    assert after["Health_Score__c"] is not None and after["Health_Score__c"] != before["Health_Score__c"]
    assert store.updated("Account", later, later) == [account]


def test_automation_with_changes_ids_and_limit(store: Store, user: str, clock: FakeClock) -> None:
    ids = [store.create("Case", {"Subject": str(n)}, user_id=user) for n in range(4)]
    store.delete("Case", ids[3], user_id=user)
    clock.advance(minutes=1)
    assert store.run_automation("Case", limit=2, changes={"status": "Closed"}) == ids[:2]
    closed = store.get("Case", ids[0], ["Status", "IsClosed", "ClosedDate", "LastModifiedDate"])
    assert closed == {"Status": "Closed", "IsClosed": True, "ClosedDate": stamp(clock.now),
                      "LastModifiedDate": stamp(T0)}
    assert store.get("Case", ids[2], ["Status"])["Status"] == "New"
    assert store.run_automation("Case", ids=[ids[2], ids[3], ids[2][:15]]) == [ids[2]]  # deleted one skipped
    expect_error(store, lambda: store.run_automation("Case", changes={"CaseNumber": "1"}),
                 400, "INVALID_FIELD_FOR_INSERT_UPDATE")


@pytest.mark.parametrize("obj", [o.name for o in CATALOG.objects if o.name not in ("User",)])
def test_default_automation_works_on_every_object(store: Store, user: str, account: str, obj: str) -> None:
    required = {
        "Account": {"Name": "b"}, "Contact": {"LastName": "x"}, "Lead": {"LastName": "x", "Company": "c"},
        "Note": {"ParentId": account, "Title": "t"}, "Task": {}, "Case": {}, "Asset": {"Name": "a"},
        "License__c": {"Name": "l", "Seats__c": 3}, "Project__c": {"Name": "p"},
    }
    record_id = store.create(obj, required[obj], user_id=user)
    before = store.get(obj, record_id)
    assert record_id in store.run_automation(obj, ids=[record_id])
    after = store.get(obj, record_id)
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == before["LastModifiedDate"]


# ----- commit lag ----------------------------------------------------------------------------------


def test_visible_after_hides_a_record_until_then(store: Store, user: str, clock: FakeClock) -> None:
    lagging = store.create("Lead", {"LastName": "late", "Company": "c"}, user_id=user,
                           visible_after=T0 + timedelta(minutes=5))
    assert row(store, "Lead", lagging)["_visible_after"] == stamp(T0 + timedelta(minutes=5))
    expect_error(store, lambda: store.get("Lead", lagging), 404, "NOT_FOUND")
    assert store.updated("Lead", T0, T0) == []
    assert store.count("Lead") == 1  # the row is there, only hidden
    with store.reader() as conn:
        visible = conn.execute(f'SELECT Id FROM "Lead" WHERE {VISIBLE_SQL}', (stamp(clock.now),)).fetchall()
    assert visible == []
    clock.advance(minutes=5)
    assert store.get("Lead", lagging)["SystemModstamp"] == stamp(T0)  # appears with an old modstamp
    assert store.updated("Lead", T0, T0) == [lagging]


# ----- reopen, reset, bulk -------------------------------------------------------------------------


def test_reopen_keeps_data_users_rules_and_continues_ids(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "reopen.db"
    with Store(path, clock=clock) as first:
        user = first.integration_user_id
        made = [first.create("Account", {"Name": str(n)}, user_id=user) for n in range(3)]
        first.bulk_insert("Account", [(first.new_ids("Account", 1)[0], "bulk", 0)], ["Id", "Name", "IsDeleted"])
        first.rules.require_field("Account", "Phone")
        automation = first.automation_user_id
    with Store(path, clock=clock) as second:
        assert (second.integration_user_id, second.automation_user_id) == (user, automation)
        assert second.count("Account") == 4 and second.count("User") == 2
        assert second.rules.required_fields("Account") == ["Phone"]
        new = second.create("Account", {"Name": "new", "Phone": "1"}, user_id=user)
        assert IdFactory.sequence_of(new) == 5 and new > max(made)


def test_reset_keeps_only_the_two_users_and_clears_rules(store: Store, user: str, contact: str) -> None:
    store.rules.require_field("Contact", "Email")
    store.reset()
    assert store.counts() == {name: (2 if name == "User" else 0) for name in CATALOG.names()}
    assert store.rules.all() == []
    store.create("Contact", {"LastName": "after reset"}, user_id=user)


def test_bulk_insert_and_new_ids(store: Store) -> None:
    ids = store.new_ids("Lead", 3)
    assert len(set(ids)) == 3 and all(i.startswith("00Q") for i in ids)
    store.bulk_insert("Lead", [(i, "L", "C", 0) for i in ids], ["Id", "LastName", "Company", "IsDeleted"])
    assert store.count("Lead") == 3
    assert store.new_ids("Lead", 1)[0] > ids[-1]
    with pytest.raises(SalesforceError):
        store.bulk_insert("Lead", [("x",)], ["Nope"])
    assert store.next_case_numbers(2) == ["00001000", "00001001"]


# ----- reads ----------------------------------------------------------------------------------------


def test_get_returns_json_shapes_and_requested_fields(store: Store, user: str, account: str) -> None:
    store.update("Account", account, {"NumberOfEmployees": 12, "AnnualRevenue": 3}, user_id=user)
    record = store.get("Account", account[:15], ["numberofemployees", "AnnualRevenue", "IsDeleted", "Id"])
    assert record == {"NumberOfEmployees": 12, "AnnualRevenue": 3.0, "IsDeleted": False, "Id": account}
    assert isinstance(record["AnnualRevenue"], float)
    expect_error(store, lambda: store.get("Account", account, ["Nope"]), 400, "INVALID_FIELD")


# ----- rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "bad", "good"),
    [
        ("equals", "Cold", {"Rating": "cold"}, {"Rating": "Hot"}),
        ("not_equals", "Hot", {"Rating": "Warm"}, {"Rating": "Hot"}),
        ("is_blank", None, {"Rating": None}, {"Rating": "Hot"}),
        ("longer_than", 3, {"Rating": "Warm"}, {"Rating": "Hot"}),
        ("contains", "ol", {"Rating": "COLD"}, {"Rating": "Warm"}),
    ],
)
def test_validation_rules(store: Store, user: str, account: str, operator: str, value, bad: dict, good: dict) -> None:
    store.rules.add_validation_rule("Account", "rating_rule", "Rating", operator=operator, value=value,
                                    message="Rating is not allowed")
    error = expect_error(store, lambda: store.update("Account", account, bad, user_id=user),
                         400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", ["Rating"])
    assert error.message == "Rating is not allowed"
    expect_error(store, lambda: store.create("Account", {"Name": "n", **bad}, user_id=user),
                 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    store.update("Account", account, good, user_id=user)
    store.rules.remove("rating_rule")
    store.update("Account", account, bad, user_id=user)


def test_validation_rule_sees_the_resulting_record(store: Store, user: str, account: str) -> None:
    store.rules.add_validation_rule("Account", "big", "NumberOfEmployees", operator="greater_than", value="100",
                                    message="Too big")
    expect_error(store, lambda: store.update("Account", account, {"NumberOfEmployees": 500}, user_id=user),
                 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    store.update("Account", account, {"NumberOfEmployees": 50}, user_id=user)
    store.rules.add_validation_rule("Account", "needs_phone", "Phone", operator="is_blank", message="Phone!")
    # an update of another field is checked against the whole record, whose Phone is blank
    expect_error(store, lambda: store.update("Account", account, {"Name": "y"}, user_id=user),
                 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", ["Phone"])


def test_required_field_rule(store: Store, user: str, contact: str) -> None:
    store.rules.require_field("contact", "email")
    expect_error(store, lambda: store.create("Contact", {"LastName": "x"}, user_id=user),
                 400, "REQUIRED_FIELD_MISSING", ["Email"])
    store.update("Contact", contact, {"Title": "CEO"}, user_id=user)  # not touching Email is fine
    store.update("Contact", contact, {"Email": "ada@x.test"}, user_id=user)
    expect_error(store, lambda: store.update("Contact", contact, {"Email": ""}, user_id=user),
                 400, "REQUIRED_FIELD_MISSING", ["Email"])


def test_duplicate_rule(store: Store, user: str, contact: str) -> None:
    store.rules.add_duplicate_rule("Contact", "Email")
    store.update("Contact", contact, {"Email": "ada@x.test"}, user_id=user)
    error = expect_error(store, lambda: store.create("Contact", {"LastName": "B", "Email": "ADA@x.test"}, user_id=user),
                         400, "DUPLICATES_DETECTED", [])
    assert error.message == "Use one of these records?"
    other = store.create("Contact", {"LastName": "B", "Email": "b@x.test"}, user_id=user)
    expect_error(store, lambda: store.update("Contact", other, {"Email": "ada@x.test"}, user_id=user),
                 400, "DUPLICATES_DETECTED")
    store.update("Contact", contact, {"Email": "ada@x.test", "Title": "x"}, user_id=user)  # itself is no duplicate
    store.delete("Contact", contact, user_id=user)
    store.update("Contact", other, {"Email": "ada@x.test"}, user_id=user)  # deleted records do not count


def test_rules_round_trip_and_bad_configuration(store: Store) -> None:
    store.rules.add_validation_rule("Account", "r1", "Rating", operator="equals", value="Cold", message="m")
    store.rules.require_field("Lead", "Email")
    store.rules.add_duplicate_rule("Lead", "Email")
    document = store.rules.to_dict()
    assert document == {
        "validation_rules": [{"name": "r1", "object": "Account", "field": "Rating", "operator": "equals",
                              "value": "Cold", "message": "m"}],
        "required_fields": [{"name": "required:Lead.Email", "object": "Lead", "field": "Email"}],
        "duplicate_rules": [{"name": "duplicate:Lead.Email", "object": "Lead", "field": "Email"}],
    }
    copy = Rules.from_dict(document)
    assert copy.to_dict() == document and copy is not store.rules
    store.rules.clear()
    assert store.rules.from_dict(document) is store.rules  # on an instance: loads in place
    assert store.rules.to_dict() == document
    for call in (
        lambda: store.rules.add_validation_rule("Nope", "r", "Name", operator="equals", value=1, message="m"),
        lambda: store.rules.add_validation_rule("Account", "r", "Nope", operator="equals", value=1, message="m"),
        lambda: store.rules.add_validation_rule("Account", "r", "Name", operator="like", value=1, message="m"),
        lambda: store.rules.add_validation_rule("Account", "r", "Name", operator="equals", message="m"),
        lambda: store.rules.add_validation_rule("Account", "r", "Name", operator="longer_than", value="x",
                                                message="m"),
        lambda: store.rules.remove("nope"),
        lambda: store.rules.from_dict({"required_fields": [{"object": "Lead", "field": "Nope"}]}),
    ):
        with pytest.raises(SalesforceError):
            call()
    assert store.rules.to_dict() == document  # a bad document changes nothing


# ----- threads ----------------------------------------------------------------------------------------


def test_a_reader_keeps_its_snapshot_while_a_writer_commits(store: Store, user: str) -> None:
    for n in range(50):
        store.create("Lead", {"LastName": str(n), "Company": "c"}, user_id=user)
    snapshot_taken, writer_done = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def read() -> None:
        with store.reader() as conn:
            cursor = conn.execute('SELECT Id FROM "Lead" ORDER BY Id')
            first_rows = cursor.fetchmany(10)
            seen["before"] = conn.execute('SELECT count(*) FROM "Lead"').fetchone()[0]
            snapshot_taken.set()
            writer_done.wait(timeout=60)
            seen["rest"] = len(first_rows) + len(cursor.fetchall())
            seen["after"] = conn.execute('SELECT count(*) FROM "Lead"').fetchone()[0]

    reader = threading.Thread(target=read)
    reader.start()
    assert snapshot_taken.wait(timeout=60)
    for n in range(20):
        store.create("Lead", {"LastName": f"new {n}", "Company": "c"}, user_id=user)
    writer_done.set()
    reader.join(timeout=60)
    assert seen == {"before": 50, "rest": 50, "after": 50}
    assert store.count("Lead") == 70


def test_concurrent_writers_and_readers(store: Store, user: str) -> None:
    made: list[str] = []
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(100):
                made.append(store.create("Contact", {"LastName": f"{worker}-{n}"}, user_id=user))
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    def read() -> None:
        try:
            for _ in range(100):
                with store.reader() as conn:
                    conn.execute('SELECT count(*) FROM "Contact"').fetchone()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(set(made)) == 400 and store.count("Contact") == 400


def test_a_cursor_left_open_does_not_pin_an_old_snapshot(store: Store, user: str) -> None:
    for n in range(5):
        store.create("Lead", {"LastName": str(n), "Company": "c"}, user_id=user)
    with store.reader() as conn:
        cursor = conn.execute('SELECT Id FROM "Lead"')
        cursor.fetchone()  # left unconsumed on purpose
    store.create("Lead", {"LastName": "new", "Company": "c"}, user_id=user)
    with store.reader() as conn:
        assert conn.execute('SELECT count(*) FROM "Lead"').fetchone()[0] == 6
    assert store.count("Lead") == 6


def test_statistics_follow_api_inserts_so_key_lookups_stay_index_searches(store: Store, user: str) -> None:
    """Statistics taken when a table was small are refreshed once inserts have grown it: an IN list of
    external Ids (a collection's read-back) is looked up by the index, not answered by scanning the table."""
    for n in range(10):
        store.create("Account", {"Name": f"small {n}", "External_Id__c": f"k{n}"}, user_id=user)
    store.analyze()  # the statistics of a 10-row table
    for n in range(10, 2010):
        store.create("Account", {"Name": f"grown {n}", "External_Id__c": f"k{n}"}, user_id=user)
    keys = [f"k{n}" for n in range(500, 550)]
    sql = f'SELECT Id FROM "Account" WHERE "External_Id__c" COLLATE NOCASE IN ({", ".join("?" * len(keys))})'
    with store.reader() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", keys))
        assert len(conn.execute(sql, keys).fetchall()) == len(keys)
    assert "USING INDEX" in plan and "SCAN" not in plan, plan


@pytest.mark.parametrize("modstamp", ["LastModifiedDate", "SystemModstamp"])
@pytest.mark.parametrize("include_deleted", [True, False])
def test_a_count_over_a_modstamp_window_reads_the_index_alone(store: Store, user: str, modstamp: str,
                                                               include_deleted: bool) -> None:
    """The COUNT() a receive asks over its window is answered from the modstamp index (it holds IsDeleted and
    the commit-lag column too), not by reading every record's row in modstamp order."""
    for n in range(50):
        store.create("Contact", {"LastName": f"c{n}"}, user_id=user)
    store.analyze()
    query = (f"SELECT COUNT() FROM Contact WHERE {modstamp} >= 2000-01-01T00:00:00Z "
             f"AND {modstamp} < 2100-01-01T00:00:00Z")
    compiled = compile_soql(query, store.catalog, include_deleted=include_deleted, now=datetime.now(UTC))
    with store.reader() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled.sql}", compiled.params))
        assert conn.execute(compiled.sql, compiled.params).fetchone()[0] == 50
    assert f"COVERING INDEX ix_Contact_{modstamp}" in plan, plan


# ----- Id ranges: the parts of a large Bulk receive -------------------------------------------------

WINDOW = "{modstamp} >= 2000-01-01T00:00:00.000Z AND {modstamp} < 2100-01-01T00:00:00.000Z"
ID_RANGES = {  # the parts crm_sync's receive splits a large object into (salesforce/id_ranges.py)
    "first": "Id < '{low}'",
    "middle": "Id >= '{low}' AND Id < '{high}'",
    "last": "Id >= '{high}'",
}


LARGE_ORG_STATISTICS = {  # sqlite_stat1 of Contact (300,000 records) in an org seeded with 1,000,000
    "sqlite_autoindex_Contact_1": "308880 1",
    "ix_Contact_LastModifiedDate": "291276 1 1 1",
    "ix_Contact_SystemModstamp": "300118 1 1 1",
    "ix_Contact_IsDeleted": "223648 1001",
}


def in_range(record_id: str, low: str | None, high: str | None) -> bool:
    return (low is None or record_id >= low) and (high is None or record_id < high)


def query_plan(store: Store, soql: str, *, include_deleted: bool, now: datetime) -> tuple[str, list[str]]:
    """The SQLite plan of a SOQL query over the store, and the Ids it answers."""
    compiled = compile_soql(soql, store.catalog, include_deleted=include_deleted, now=now)
    with store.reader() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled.sql}", compiled.params))
        found = [compiled.root_id(row) for row in conn.execute(compiled.sql, compiled.params)]
    return plan, found


def with_statistics_of_a_large_org(store: Store) -> None:
    """Give the planner Contact's statistics as a seeded org of a million records has them (sampled ANALYZE).

    Without STAT4 the planner guesses any range at a fixed share of the table, whatever its bounds; what these
    change is the row count and the IsDeleted figure (far from the truth once ANALYZE only samples).
    """
    conn = sqlite3.connect(store.path)
    try:
        with conn:
            conn.executemany("UPDATE sqlite_stat1 SET stat = ? WHERE tbl = 'Contact' AND idx = ?",
                             [(stat, index) for index, stat in LARGE_ORG_STATISTICS.items()])
    finally:
        conn.close()


@pytest.mark.parametrize("part", list(ID_RANGES))
@pytest.mark.parametrize("modstamp", ["LastModifiedDate", "SystemModstamp"])
@pytest.mark.parametrize("include_deleted", [True, False])
@pytest.mark.parametrize("large_org", [False, True])
def test_an_id_range_part_of_a_window_reads_its_range_from_the_id_index(store: Store, user: str, part: str,
                                                                        modstamp: str, include_deleted: bool,
                                                                        large_org: bool) -> None:
    """A Bulk part of a full fetch (the window AND an Id range) reads its Id range from the primary key; it does
    not walk the whole window in the modstamp index (or every live row in the IsDeleted index) to keep a part."""
    ids = sorted(store.create("Contact", {"LastName": f"c{n}"}, user_id=user) for n in range(50))
    store.analyze()
    if large_org:
        with_statistics_of_a_large_org(store)
    low, high = ids[10], ids[30]
    where = f"({WINDOW.format(modstamp=modstamp)}) AND ({ID_RANGES[part].format(low=low, high=high)})"
    plan, found = query_plan(store, f"SELECT Id, LastName FROM Contact WHERE {where}",
                             include_deleted=include_deleted, now=datetime.now(UTC))
    assert "USING INDEX sqlite_autoindex_Contact_1 (Id" in plan and "ix_Contact_" not in plan, plan
    bounds = {"first": (None, low), "middle": (low, high), "last": (high, None)}[part]
    assert sorted(found) == [i for i in ids if in_range(i, *bounds)]


@pytest.mark.parametrize("modstamp", ["LastModifiedDate", "SystemModstamp"])
@pytest.mark.parametrize(("include_deleted", "large_org"), [(True, False), (False, False), (True, True)])
@pytest.mark.parametrize("other", ["", " AND (Id < '{high}' OR LastName = 'c40')", " AND (NOT Id >= '{high}')"])
def test_a_window_without_an_id_range_of_its_own_still_reads_the_modstamp_index(
        store: Store, user: str, modstamp: str, include_deleted: bool, large_org: bool, other: str) -> None:
    """An incremental window (no Id bounds) reads the modstamp index; so does one whose Id bound is not a range
    of the whole query (under OR or NOT): only an Id range on the top-level AND moves a query to the Id index.
    (Not pinned: `query` rather than queryAll on a large org's statistics, which reads the IsDeleted index.)"""
    ids = sorted(store.create("Contact", {"LastName": f"c{n}"}, user_id=user) for n in range(50))
    store.analyze()
    if large_org:
        with_statistics_of_a_large_org(store)
    where = f"({WINDOW.format(modstamp=modstamp)}){other.format(high=ids[30])}"
    plan, found = query_plan(store, f"SELECT Id, LastName FROM Contact WHERE {where}",
                             include_deleted=include_deleted, now=datetime.now(UTC))
    assert f"USING INDEX ix_Contact_{modstamp} ({modstamp}>" in plan, plan
    assert len(found) == (50 if not other else 31 if "OR" in other else 30)


def test_id_range_parts_answer_exactly_the_records_of_their_window(store: Store, user: str,
                                                                   clock: FakeClock) -> None:
    """Whatever index reads them, the parts of a window answer what a filter over every stored row gives (deleted
    records for queryAll only, none not yet visible, modstamps in the window, Ids in the part), each record in one
    part only, and an ORDER BY keeps its order."""
    ids = []
    for n in range(60):
        ids.append(store.create("Contact", {"LastName": f"c{n}"}, user_id=user))
        clock.advance(seconds=1)
    for n in range(0, 60, 7):  # early Ids with late modstamps: modstamp order is not Id order
        store.update("Contact", ids[n], {"Title": "moved"}, user_id=user)
        clock.advance(seconds=1)
    for n in (3, 20, 44):
        store.delete("Contact", ids[n], user_id=user)
    store.create("Contact", {"LastName": "lagging"}, user_id=user, visible_after=clock.now + timedelta(hours=1))
    store.analyze()
    with store.reader() as conn:
        stored = conn.execute('SELECT Id, IsDeleted, LastModifiedDate, SystemModstamp, _visible_after '
                              'FROM "Contact"').fetchall()
    ordered = sorted(ids)
    low, high = ordered[15], ordered[40]
    windows = [(T0, clock.now + timedelta(seconds=1)), (T0 + timedelta(seconds=30), T0 + timedelta(seconds=65))]
    for modstamp, column in (("LastModifiedDate", 2), ("SystemModstamp", 3)):
        for include_deleted in (True, False):
            for start, end in windows:
                window = f"{modstamp} >= {stamp(start)} AND {modstamp} < {stamp(end)}"
                expected = {r[0]: r[column] for r in stored
                            if (include_deleted or not r[1]) and (r[4] is None or r[4] <= stamp(clock.now))
                            and stamp(start) <= r[column] < stamp(end)}
                answered: list[str] = []
                for part, bounds in (("first", (None, low)), ("middle", (low, high)), ("last", (high, None))):
                    condition = ID_RANGES[part].format(low=low, high=high)
                    in_part = sorted((at, i) for i, at in expected.items() if in_range(i, *bounds))
                    soql = f"SELECT Id FROM Contact WHERE ({window}) AND ({condition})"
                    _, found = query_plan(store, soql, include_deleted=include_deleted, now=clock.now)
                    assert sorted(found) == sorted(i for _, i in in_part), (soql, include_deleted)
                    _, in_order = query_plan(store, f"{soql} ORDER BY {modstamp}, Id",
                                             include_deleted=include_deleted, now=clock.now)
                    assert in_order == [i for _, i in in_part], (soql, include_deleted)
                    answered += found
                assert sorted(answered) == sorted(expected), (window, include_deleted)
