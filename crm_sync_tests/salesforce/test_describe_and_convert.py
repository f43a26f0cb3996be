"""Type mapping from describe, parent-path resolution, and REST/CSV pages to the same Arrow tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from crm_sync.salesforce.bulk import csv_to_table
from crm_sync.salesforce.describe import TIMESTAMP, DescribeCache, arrow_schema, arrow_type, resolve_path
from crm_sync.salesforce.errors import SalesforceSchemaError
from crm_sync.salesforce.pages import path_value, records_to_table
from crm_sync.sandbox.catalog import CATALOG, describe_object


def describe(name: str) -> dict | None:
    """Describe answers in Salesforce's shape, as the sandbox builds them."""
    obj = CATALOG.get(name)
    return describe_object(obj) if obj else None


def test_arrow_types() -> None:
    assert arrow_type("datetime") == pa.timestamp("ms", tz="UTC")
    assert arrow_type("date") == pa.date32()
    assert arrow_type("boolean") == pa.bool_()
    assert arrow_type("int") == pa.int64()
    for numeric in ("double", "currency", "percent"):
        assert arrow_type(numeric) == pa.float64()
    for text in ("id", "reference", "string", "picklist", "textarea", "email", "url", "phone"):
        assert arrow_type(text) == pa.string()


def test_schema_resolves_parent_paths_in_canonical_spelling() -> None:
    schema = arrow_schema(describe, "Contact", ["id", "Owner.Email", "account.owner.name", "Birthdate",
                                                "HasOptedOutOfEmail", "CreatedDate", "Account.AnnualRevenue",
                                                "Account.NumberOfEmployees"])
    assert schema.names == ["Id", "Owner.Email", "Account.Owner.Name", "Birthdate", "HasOptedOutOfEmail",
                            "CreatedDate", "Account.AnnualRevenue", "Account.NumberOfEmployees"]
    assert schema.types == [pa.string(), pa.string(), pa.string(), pa.date32(), pa.bool_(), TIMESTAMP,
                            pa.float64(), pa.int64()]


def test_custom_and_polymorphic_relationships() -> None:
    assert resolve_path(describe, "License__c", "Account__r.Name").path == "Account__r.Name"
    what = resolve_path(describe, "Task", "What.Name")
    assert what.path == "What.Name" and what.arrow_type == pa.string()


def test_unknown_names_are_schema_errors() -> None:
    for obj, path in (("Nope__c", "Id"), ("Contact", "Nope"), ("Contact", "Nope.Id"), ("Contact", "Owner.Nope")):
        with pytest.raises(SalesforceSchemaError):
            resolve_path(describe, obj, path)


def test_describe_cache_fetches_once_and_caches_none() -> None:
    calls: list[str] = []

    def fetch(name: str) -> dict | None:
        calls.append(name)
        return describe(name)

    cache = DescribeCache(fetch)
    assert cache.get("Account") is cache.get("account")
    assert cache.get("Nope") is None and cache.get("NOPE") is None
    assert calls == ["Account", "Nope"]


SCHEMA = arrow_schema(describe, "Contact", ["Id", "LastName", "Owner.Email", "Birthdate", "HasOptedOutOfEmail",
                                            "CreatedDate", "Account.AnnualRevenue", "Account.NumberOfEmployees",
                                            "MailingStreet"])
REST_RECORDS = [
    {"attributes": {"type": "Contact"}, "Id": "003000000000001AAA", "LastName": "O'Brien, \"Jr\"",
     "Owner": {"attributes": {"type": "User"}, "Email": "a@x.com"}, "Birthdate": "1980-02-29",
     "HasOptedOutOfEmail": True, "CreatedDate": "2024-01-31T10:00:00.123+0000",
     "Account": {"attributes": {"type": "Account"}, "AnnualRevenue": 1500.5, "NumberOfEmployees": 12},
     "MailingStreet": "1 Main St\nSuite 2"},
    {"attributes": {"type": "Contact"}, "Id": "003000000000002AAA", "LastName": "Zed", "Owner": None,
     "Birthdate": None, "HasOptedOutOfEmail": False, "CreatedDate": "2024-02-01T00:00:00.000+0000",
     "Account": None, "MailingStreet": ""},
]
CSV_PAGE = (
    b'"Id","LastName","Owner.Email","Birthdate","HasOptedOutOfEmail","CreatedDate","Account.AnnualRevenue",'
    b'"Account.NumberOfEmployees","MailingStreet"\n'
    b'"003000000000001AAA","O\'Brien, ""Jr""","a@x.com","1980-02-29","true","2024-01-31T10:00:00.123Z",'
    b'"1500.5","12","1 Main St\nSuite 2"\n'
    b'"003000000000002AAA","Zed","","","false","2024-02-01T00:00:00.000Z","","",""\n'
)


def test_rest_records_to_table() -> None:
    table = records_to_table(REST_RECORDS, SCHEMA)
    assert table.schema == SCHEMA
    first, second = table.to_pylist()
    assert first["Owner.Email"] == "a@x.com" and first["Account.NumberOfEmployees"] == 12
    assert first["CreatedDate"] == datetime(2024, 1, 31, 10, 0, 0, 123000, tzinfo=UTC)
    assert first["Birthdate"] == date(1980, 2, 29)
    assert second["Owner.Email"] is None and second["Account.AnnualRevenue"] is None
    assert second["MailingStreet"] is None  # Salesforce keeps no empty strings
    assert path_value({"owner": {"email": "x"}}, "Owner.Email") == "x"


def test_csv_page_equals_rest_page() -> None:
    assert csv_to_table(CSV_PAGE, SCHEMA).equals(records_to_table(REST_RECORDS, SCHEMA))


def test_csv_header_case_and_order_do_not_matter() -> None:
    schema = pa.schema([("Id", pa.string()), ("Owner.Email", pa.string())])
    table = csv_to_table(b"owner.email,ID\nb@x.com,003000000000001AAA\n", schema)
    assert table.schema == schema
    assert table.to_pylist() == [{"Id": "003000000000001AAA", "Owner.Email": "b@x.com"}]
    assert csv_to_table(b"", schema).num_rows == 0
    assert csv_to_table(b"Id,Owner.Email\n", schema).schema == schema
    with pytest.raises(SalesforceSchemaError):
        csv_to_table(b"Id,Other\n1,2\n", schema)
