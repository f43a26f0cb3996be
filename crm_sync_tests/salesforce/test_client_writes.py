"""Writing to the sandbox org: sObject Collections, Bulk API 2.0 ingest, composite."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from crm_sync.salesforce import BulkJobFailed, SalesforceClient, soql
from crm_sync.sandbox.admin_client import SandboxAdmin


def _contacts(client: SalesforceClient, marker: str) -> dict[str, dict]:
    query = soql.select("Contact", ["Id", "LastName", "Title", "Email", "Birthdate", "External_Id__c"],
                        where=f"LastName LIKE {soql.quote(marker + '%')}")
    return {r["Id"]: r for r in client.query_records(query)}


def test_collections_write_reports_each_record(client: SalesforceClient, marker: str) -> None:
    before = client.api_calls.snapshot()
    records = [{"LastName": f"{marker} {i}", "Email": f"{marker}.{i}@example.com"} for i in range(250)]
    records.insert(7, {"FirstName": "no last name"})
    created = client.collections_write("create", "Contact", records)
    assert (client.api_calls.snapshot() - before).by_purpose == {"collections_create": 2}  # 251 = 200 + 51
    assert len(created) == 251
    failed = created[7]
    assert not failed.success and failed.id is None
    assert failed.errors == [{"statusCode": "REQUIRED_FIELD_MISSING", "message": failed.errors[0]["message"],
                              "fields": ["LastName"]}]
    ok = [r for r in created if r.success]
    assert len(ok) == 250 and all(r.created and r.id.startswith("003") for r in ok)
    assert set(_contacts(client, marker)) == {r.id for r in ok}

    updates = [{"Id": ok[0].id, "Title": "CTO"}, {"Id": "0038a0000000000AAA", "Title": "nobody"}]
    updated = client.collections_write("update", "Contact", updates)
    assert updated[0].success and not updated[0].created
    assert not updated[1].success and updated[1].error_codes
    assert _contacts(client, marker)[ok[0].id]["Title"] == "CTO"

    deleted = client.collections_write("delete", "Contact", [r.id for r in ok[:3]])
    assert all(r.success for r in deleted)
    assert len(_contacts(client, marker)) == 247


def test_collections_upsert_by_external_id(client: SalesforceClient, marker: str) -> None:
    rows = [{"External_Id__c": f"{marker}-a", "LastName": f"{marker} a"},
            {"External_Id__c": f"{marker}-b", "LastName": f"{marker} b"}]
    first = client.collections_write("upsert", "Contact", rows, external_id_field="External_Id__c")
    assert [r.created for r in first] == [True, True]
    rows[0]["Title"] = "VP"
    second = client.collections_write("upsert", "Contact", rows, external_id_field="External_Id__c")
    assert [r.created for r in second] == [False, False]
    assert [r.id for r in second] == [r.id for r in first]
    assert _contacts(client, marker)[first[0].id]["Title"] == "VP"


def test_two_collections_and_their_read_backs_go_in_one_call(client: SalesforceClient, sf_admin: SandboxAdmin,
                                                            marker: str) -> None:
    rows = [{"External_Id__c": f"{marker}-{i}", "LastName": f"{marker} {i}"} for i in range(450)]
    before = client.api_calls.snapshot()
    results = client.collections_write("upsert", "Contact", rows, external_id_field="External_Id__c",
                                       read_back=["LastModifiedById"], collections_per_call=2)
    assert (client.api_calls.snapshot() - before).by_purpose == {"collections_upsert": 2}  # 200 + 200, then 50
    assert len(results) == 450 and all(r.success and r.created for r in results)
    assert [r.input["External_Id__c"] for r in results] == [row["External_Id__c"] for row in rows]
    assert {r.read_back["LastModifiedById"] for r in results} == {client.user_id}

    sf_admin.set_faults(rate_lock=0.05, seed=5)  # locked records go again, in their own collection
    for row in rows:
        row["Title"] = "again"
    again = client.collections_write("upsert", "Contact", rows, external_id_field="External_Id__c",
                                     read_back=["LastModifiedById"], collections_per_call=2)
    assert sf_admin.faults()["injected"].get("lock", 0) > 0
    sf_admin.clear_faults()
    assert [r.errors for r in again if not r.success] == []
    assert [r.id for r in again] == [r.id for r in results] and all(r.success and not r.created for r in again)
    assert {c["Title"] for c in _contacts(client, marker).values()} == {"again"}


def test_row_locks_on_single_records_are_retried(client: SalesforceClient, sf_admin: SandboxAdmin,
                                                 marker: str) -> None:
    sf_admin.set_faults(rate_lock=0.3, seed=11)
    before = client.api_calls.for_purpose("collections_create")
    results = client.collections_write("create", "Contact", [{"LastName": f"{marker} {i}"} for i in range(20)])
    assert sf_admin.faults()["injected"].get("lock", 0) > 0
    assert all(r.success for r in results)
    assert client.api_calls.for_purpose("collections_create") - before > 1  # the locked records went again
    assert len(_contacts(client, marker)) == 20


def test_bulk_ingest_insert_and_upsert(client: SalesforceClient, marker: str) -> None:
    rows = [{"LastName": f"{marker} 1", "Email": f"{marker}1@example.com", "Birthdate": date(1990, 5, 17)},
            {"FirstName": "missing last name"},
            {"LastName": f"{marker} 3", "Title": "Line one, \"quoted\"\nline two", "Email": None}]
    results = client.bulk_ingest("insert", "Contact", rows)
    assert len(results) == 3
    good = [r for r in results if r.success]
    bad = [r for r in results if not r.success]
    assert len(good) == 2 and all(r.created and r.id for r in good)
    assert bad[0].errors[0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert bad[0].input["FirstName"] == "missing last name"
    stored = _contacts(client, marker)
    assert set(stored) == {r.id for r in good}
    by_name = {r["LastName"]: r for r in stored.values()}
    assert by_name[f"{marker} 1"]["Birthdate"] == "1990-05-17"
    assert by_name[f"{marker} 3"]["Title"] == "Line one, \"quoted\"\nline two"
    assert by_name[f"{marker} 3"]["Email"] is None

    table = pa.table({"External_Id__c": [f"{marker}-x", f"{marker}-y"], "LastName": [f"{marker} x", f"{marker} y"]})
    upserted = client.bulk_ingest("upsert", "Contact", table, external_id_field="External_Id__c")
    assert sorted(r.input["External_Id__c"] for r in upserted if r.success and r.created) == [
        f"{marker}-x", f"{marker}-y"]
    assert len(_contacts(client, marker)) == 4


def test_composite_is_one_api_call(client: SalesforceClient, sf_admin: SandboxAdmin) -> None:
    objects = ["Account", "Contact", "Task", "Case", "License__c"]
    requests = [client.query_subrequest(obj, soql.count(obj)) for obj in objects]
    org_before = sf_admin.api_usage()["used"]
    before = client.api_calls.total
    answers = client.composite(requests)
    assert client.api_calls.total == before + 1
    assert sf_admin.api_usage()["used"] == org_before + 1
    counts = sf_admin.counts()
    assert [a["referenceId"] for a in answers] == objects
    assert [a["body"]["totalSize"] for a in answers] == [counts[obj] for obj in objects]


def test_failed_ingest_job_is_a_clear_error(client: SalesforceClient, marker: str) -> None:
    with pytest.raises(BulkJobFailed) as failure:
        client.bulk_ingest("insert", "Contact", [{"LastName": marker, "Nope__c": "x"}])
    assert failure.value.state == "Failed" and "Nope__c" in str(failure.value)
