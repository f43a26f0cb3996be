"""Reading from the sandbox org over HTTPS: REST pages vs Bulk API 2.0, counts, describe, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from crm_sync.salesforce import SalesforceClient, SalesforceConnectionError, SalesforceSchemaError, soql
from crm_sync.salesforce.describe import TIMESTAMP
from crm_sync.sandbox.admin_client import SandboxAdmin

from .conftest import ClientFactory

ACCOUNT_FIELDS = ["Id", "Name", "Type", "AnnualRevenue", "NumberOfEmployees", "BillingStreet", "Owner.Email",
                  "Parent.Name", "CreatedDate", "SystemModstamp", "IsDeleted", "Health_Score__c"]
CONTACT_FIELDS = ["Id", "FirstName", "LastName", "Email", "Birthdate", "HasOptedOutOfEmail", "MailingStreet",
                  "Account.Name", "Account.Owner.Email", "Owner.Name", "LastModifiedDate"]


@pytest.mark.parametrize(("obj", "fields"), [("Account", ACCOUNT_FIELDS), ("Contact", CONTACT_FIELDS)])
def test_query_pages_equal_bulk_query(client: SalesforceClient, obj: str, fields: list[str]) -> None:
    query = soql.select(obj, fields, order_by="Id")
    before = client.api_calls.snapshot()
    rest_pages = list(client.query_pages(query, batch_size=200))
    rest_calls = (client.api_calls.snapshot() - before).by_purpose.get("query", 0)
    bulk_pages = list(client.bulk_query(query, max_records=150))

    rest, bulk = pa.concat_tables(rest_pages), pa.concat_tables(bulk_pages)
    expected = client.count(obj)
    assert rest.num_rows == expected >= 150
    assert len(rest_pages) == rest_calls == -(-expected // 200)  # one API call per page
    assert len(bulk_pages) == -(-expected // 150)
    assert rest.schema == bulk.schema == client.arrow_schema(obj, fields)
    assert rest.schema.names == fields
    assert rest.equals(bulk)


def test_pages_are_typed_and_flatten_parents(client: SalesforceClient) -> None:
    query = soql.select("Contact", CONTACT_FIELDS, order_by="Id")
    table = pa.concat_tables(client.query_pages(query))
    schema = table.schema
    assert schema.field("LastModifiedDate").type == TIMESTAMP
    assert schema.field("Birthdate").type == pa.date32()
    assert schema.field("HasOptedOutOfEmail").type == pa.bool_()
    rows = table.to_pylist()
    with_account = [r for r in rows if r["Account.Name"] is not None]
    assert with_account and all(r["Account.Owner.Email"] for r in with_account)
    without_account = client.count("Contact", "AccountId = null")
    assert sum(r["Account.Name"] is None for r in rows) == without_account
    account_numbers = pa.concat_tables(client.query_pages(soql.select("Account", ["NumberOfEmployees",
                                                                                   "AnnualRevenue"])))
    assert account_numbers.schema.types == [pa.int64(), pa.float64()]
    assert account_numbers.column("NumberOfEmployees").null_count < account_numbers.num_rows


def test_count_matches_the_org(client: SalesforceClient, sf_admin: SandboxAdmin) -> None:
    counts = sf_admin.counts()
    for obj in ("Account", "Contact", "Task", "License__c"):
        assert client.count(obj) == counts[obj]
    named = client.count("Account", "Name LIKE 'A%'")
    assert 0 < named < counts["Account"]
    before = client.api_calls.for_purpose("count")
    client.count("Case", soql.window_condition("SystemModstamp", datetime(2000, 1, 1, tzinfo=UTC),
                                               datetime.now(UTC)))
    assert client.api_calls.for_purpose("count") == before + 1


def test_deleted_records_via_query_all_and_bulk(client: SalesforceClient, sf_admin: SandboxAdmin,
                                                marker: str) -> None:
    record_id = sf_admin.create_record("Account", {"Name": f"Gone {marker}"})
    sf_admin.delete_record("Account", record_id)
    where = [soql.id_in([record_id]), "IsDeleted = true"]
    query = soql.select("Account", ["Id", "Name", "IsDeleted"], where=where)

    assert pa.concat_tables(client.query_pages(query)).num_rows == 0
    rest = pa.concat_tables(client.query_pages(query, include_deleted=True))
    bulk = pa.concat_tables(client.bulk_query(query, include_deleted=True))
    assert rest.to_pylist() == bulk.to_pylist() == [{"Id": record_id, "Name": f"Gone {marker}", "IsDeleted": True}]
    assert client.count("Account", where[0], include_deleted=True) == 1
    assert client.count("Account", where[0]) == 0


def test_describe_is_cached_and_none_for_unknown(make_client: ClientFactory) -> None:
    fresh = make_client()
    account = fresh.describe("Account")
    assert account is not None and account["name"] == "Account"
    assert {"Id", "Name", "OwnerId", "SystemModstamp"} <= {f["name"] for f in account["fields"]}
    calls = fresh.api_calls.for_purpose("describe")
    assert fresh.describe("account") is account
    assert fresh.describe("Nope__c") is None and fresh.describe("Nope__c") is None
    assert fresh.api_calls.for_purpose("describe") == calls + 1
    names = {o["name"] for o in fresh.describe_global()["sobjects"]}
    assert {"Account", "Contact", "License__c", "Project__c"} <= names
    with pytest.raises(SalesforceSchemaError, match="Nope"):
        list(fresh.query_pages("SELECT Id, Nope FROM Account"))


def test_limits_api_usage_and_call_counts_agree_with_the_org(
    make_client: ClientFactory, sf_admin: SandboxAdmin
) -> None:
    fresh = make_client()
    org_before = sf_admin.api_usage()["used"]
    limits = fresh.limits()
    assert limits["DailyApiRequests"]["Max"] == sf_admin.api_usage()["max"]
    fresh.count("Account")
    list(fresh.query_pages("SELECT Id, Owner.Email FROM Contact", batch_size=500))
    list(fresh.bulk_query("SELECT Id FROM Account", max_records=100))
    used, maximum = fresh.api_usage()
    org = sf_admin.api_usage()
    assert (used, maximum) == (org["used"], org["max"])
    assert fresh.api_calls.total == org["used"] - org_before  # every call counted, once
    assert fresh.api_calls.for_object("Contact") >= 2
    assert fresh.api_calls.logins == 1


def test_bulk_results_that_break_off_are_asked_again_and_resumed(client: SalesforceClient,
                                                                  sf_admin: SandboxAdmin) -> None:
    query = soql.select("Contact", CONTACT_FIELDS, order_by="Id")
    whole = pa.concat_tables(client.bulk_query(query, max_records=300, page_rows=70))
    sf_admin.add_fault("/results", "cut", count=2)  # two results bodies break off half way
    before = client.api_calls.snapshot()
    resumed = list(client.bulk_query(query, max_records=300, page_rows=70))
    spent = (client.api_calls.snapshot() - before).by_purpose
    assert pa.concat_tables(resumed).equals(whole)  # no row twice, none missing, same order
    assert spent["bulk_query_results"] == -(-whole.num_rows // 300) + 2  # each retry is an API call


def test_bulk_results_that_keep_breaking_off_fail_named(make_client: ClientFactory, sf_admin: SandboxAdmin) -> None:
    client = make_client(max_attempts=2)
    sf_admin.add_fault("/results", "cut", count=2)
    with pytest.raises(SalesforceConnectionError, match="broke off 2 times"):
        list(client.bulk_query("SELECT Id, Name FROM Account"))


def test_a_survey_is_one_call_for_the_count_the_id_bounds_and_the_describe(make_client: ClientFactory,
                                                                             sf_admin: SandboxAdmin) -> None:
    fresh = make_client()
    org_before = sf_admin.api_usage()["used"]
    where = "Name LIKE 'A%'"
    survey = fresh.survey("Account", where, include_deleted=True)
    assert fresh.api_calls.total == 1 and sf_admin.api_usage()["used"] == org_before + 1
    assert survey.count == fresh.count("Account", where, include_deleted=True)
    ids = [r["Id"] for r in fresh.query_records("SELECT Id FROM Account ORDER BY Id", include_deleted=True)]
    assert survey.id_bounds == (ids[0], ids[-1])
    calls = fresh.api_calls.total
    fresh.describe("Account")  # kept from the survey
    assert fresh.api_calls.total == calls
    fresh.survey("Account")  # a second survey asks no describe again, and is still one call
    assert fresh.api_calls.total == calls + 1 and fresh.api_calls.for_purpose("describe") == 0


def test_a_surveys_id_bounds_are_the_objects_whatever_the_window(make_client: ClientFactory) -> None:
    client = make_client()
    everything = client.survey("Account")
    empty = client.survey("Account", "Name = 'no such account'")
    assert empty.count == 0 and everything.count > 0
    assert empty.id_bounds == everything.id_bounds is not None


def test_a_survey_also_brings_the_describes_it_is_asked_for(make_client: ClientFactory) -> None:
    client = make_client()
    client.survey("Contact", also_describe=["Account", "User", "Contact", "No_Such_Object__c"])
    assert client.api_calls.total == 1
    assert client.describe("No_Such_Object__c") is None  # kept as missing, as describe() does
    # parent paths resolve from what the survey kept: no call
    schema = client.schema_for("SELECT Id, Account.Name, Owner.Email FROM Contact")
    assert schema.names == ["Id", "Account.Name", "Owner.Email"] and client.api_calls.total == 1
