"""Bulk API 2.0 through simple-salesforce's bulk2 client: query pages, download, ingest with failures."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.csv as pa_csv
import pytest
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceResourceNotFound,
)

from crm_sync.sandbox.process import SandboxInfo


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk_query_pages_match_rest(sf) -> None:
    expected = {r["Id"]: r for r in sf.query_all("SELECT Id, Name, NumberOfEmployees FROM Account")["records"]}
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, NumberOfEmployees FROM Account", max_records=70, wait=0))
    assert len(pages) == -(-len(expected) // 70)
    rows = [row for page in pages for row in _rows(page)]
    assert len(rows) == len(expected)
    assert {r["Id"] for r in rows} == set(expected)
    sample = rows[0]
    assert sample["Name"] == expected[sample["Id"]]["Name"]
    assert list(sample) == ["Id", "Name", "NumberOfEmployees"]


def test_bulk_download_parses_with_pyarrow(sf, tmp_path: Path) -> None:
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    results = sf.bulk2.Contact.download("SELECT Id, Email, Account.Name, HasOptedOutOfEmail FROM Contact",
                                        path=str(tmp_path), max_records=500, wait=0)
    assert sum(r["number_of_records"] for r in results) == total
    assert results[-1]["locator"] == "" and all(r["locator"] for r in results[:-1])
    tables = [pa_csv.read_csv(r["file"]) for r in results]
    assert sum(t.num_rows for t in tables) == total
    assert tables[0].column_names == ["Id", "Email", "Account.Name", "HasOptedOutOfEmail"]
    assert set(tables[0].column("HasOptedOutOfEmail").to_pylist()) <= {True, False}


def test_bulk_query_all_includes_deleted(sf, marker: str) -> None:
    record_id = sf.Lead.create({"LastName": marker, "Company": marker})["id"]
    sf.Lead.delete(record_id)
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE LastName = '{marker}'"
    assert [_rows(page) for page in sf.bulk2.Lead.query(soql, wait=0)] == [[]]
    everything = [row for page in sf.bulk2.Lead.query_all(soql, wait=0) for row in _rows(page)]
    assert everything == [{"Id": record_id, "IsDeleted": "true"}]


def test_bulk_insert_reports_failed_rows(sf, marker: str) -> None:
    records = [{"LastName": f"{marker} ok", "Email": f"{marker}@example.com"},
               {"LastName": "", "Email": f"{marker}-2@example.com"},
               {"LastName": f"{marker} bad mail", "Email": "not-an-email"}]
    [result] = sf.bulk2.Contact.insert(records=records, wait=0)
    assert result["numberRecordsProcessed"] == 3 and result["numberRecordsFailed"] == 2
    failed = _rows(sf.bulk2.Contact.get_failed_records(result["job_id"]))
    errors = sorted(row["sf__Error"].split(":")[0] for row in failed)
    assert errors == ["INVALID_EMAIL_ADDRESS", "REQUIRED_FIELD_MISSING"]
    succeeded = _rows(sf.bulk2.Contact.get_successful_records(result["job_id"]))
    assert len(succeeded) == 1 and succeeded[0]["sf__Created"] == "true"
    assert sf.Contact.get(succeeded[0]["sf__Id"])["Email"] == f"{marker}@example.com"
    assert _rows(sf.bulk2.Contact.get_unprocessed_records(result["job_id"])) == []


def test_bulk_upsert_then_update_and_delete(sf, marker: str) -> None:
    rows = [{"External_Id__c": f"{marker}-{i}", "Name": f"{marker} {i}", "NumberOfEmployees": str(i)}
            for i in range(5)]
    [first] = sf.bulk2.Account.upsert(records=rows, external_id_field="External_Id__c", wait=0)
    assert first["numberRecordsFailed"] == 0
    created = _rows(sf.bulk2.Account.get_successful_records(first["job_id"]))
    assert {row["sf__Created"] for row in created} == {"true"}
    rows[0]["NumberOfEmployees"] = "99"
    [second] = sf.bulk2.Account.upsert(records=rows, external_id_field="External_Id__c", wait=0)
    again = _rows(sf.bulk2.Account.get_successful_records(second["job_id"]))
    assert {row["sf__Created"] for row in again} == {"false"}
    ids = sorted(row["sf__Id"] for row in again)
    assert sf.Account.get_by_custom_id("External_Id__c", f"{marker}-0")["NumberOfEmployees"] == 99
    [updated] = sf.bulk2.Account.update(records=[{"Id": ids[0], "Industry": "Energy"}], wait=0)
    assert updated["numberRecordsFailed"] == 0
    [deleted] = sf.bulk2.Account.delete(records=[{"Id": i} for i in ids], wait=0)
    assert deleted["numberRecordsProcessed"] == 5 and deleted["numberRecordsFailed"] == 0
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name LIKE '{marker}%'")["totalSize"] == 0


def test_bulk_upsert_of_good_and_bad_rows_with_an_external_id_twice(sf, marker: str) -> None:
    rows = [{"External_Id__c": f"{marker}-0", "Name": f"{marker} first", "NumberOfEmployees": "1"},
            {"External_Id__c": f"{marker}-1", "Name": "", "NumberOfEmployees": "2"},
            {"External_Id__c": f"{marker.upper()}-0", "Name": f"{marker} again", "NumberOfEmployees": "3"},
            {"External_Id__c": f"{marker}-2", "Name": f"{marker} bad", "NumberOfEmployees": "lots"},
            {"External_Id__c": f"{marker}-3", "Name": f"{marker} last", "NumberOfEmployees": "4"}]
    [result] = sf.bulk2.Account.upsert(records=rows, external_id_field="External_Id__c", wait=0)
    assert result["numberRecordsProcessed"] == 5 and result["numberRecordsFailed"] == 2
    succeeded = _rows(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert [(row["External_Id__c"], row["sf__Created"]) for row in succeeded] == [
        (f"{marker}-0", "true"), (f"{marker.upper()}-0", "false"), (f"{marker}-3", "true")]
    assert succeeded[0]["sf__Id"] == succeeded[1]["sf__Id"]
    failed = _rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert sorted(row["sf__Error"].split(":")[0] for row in failed) == [
        "INVALID_TYPE_ON_FIELD_IN_RECORD", "REQUIRED_FIELD_MISSING"]
    stored = sf.query(f"SELECT External_Id__c, Name, NumberOfEmployees FROM Account "
                      f"WHERE Name LIKE '{marker}%' ORDER BY External_Id__c")["records"]
    assert [(r["External_Id__c"], r["Name"], r["NumberOfEmployees"]) for r in stored] == [
        (f"{marker}-0", f"{marker} again", 3), (f"{marker}-3", f"{marker} last", 4)]
    [inserted] = sf.bulk2.Account.insert(records=[{"External_Id__c": f"{marker}-9", "Name": f"{marker} 9"},
                                                  {"External_Id__c": f"{marker}-9", "Name": f"{marker} 9 twice"},
                                                  {"External_Id__c": f"{marker}-3", "Name": f"{marker} 3 twice"}],
                                         wait=0)
    assert inserted["numberRecordsFailed"] == 2
    failed = _rows(sf.bulk2.Account.get_failed_records(inserted["job_id"]))
    assert {row["sf__Error"].split(":")[0] for row in failed} == {"DUPLICATE_VALUE"}


def test_bulk_job_errors(sandbox: SandboxInfo, sf) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        list(sf.bulk2.Account.query("SELECT Nope__c FROM Account", wait=0))
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.bulk2.Nope__c.insert(records=[{"Name": "x"}], wait=0)
    assert failure.value.content[0]["errorCode"] == "INVALIDJOB"
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("jobs/query/7508a0000000000AAA")


def test_unknown_csv_column_fails_the_job(sandbox: SandboxInfo, sf) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Account.insert(records=[{"Name": "x", "Nope__c": "y"}], wait=0)


def test_second_upload_is_refused(sandbox: SandboxInfo, sf) -> None:
    session = sandbox.http_session()
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    job = session.post(f"{sf.bulk2_url}ingest", headers=headers,
                       json={"object": "Account", "operation": "insert", "contentType": "CSV"}).json()
    assert job["state"] == "Open"
    url = f"{sf.bulk2_url}ingest/{job['id']}/batches"
    csv_headers = {**headers, "Content-Type": "text/csv"}
    assert session.put(url, headers=csv_headers, data=b"Name\nfirst\n").status_code == 201
    second = session.put(url, headers=csv_headers, data=b"Name\nsecond\n")
    assert second.status_code == 400 and second.json()[0]["errorCode"] == "BULK_API_ERROR"
    aborted = session.patch(f"{sf.bulk2_url}ingest/{job['id']}", headers=headers, json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert session.delete(f"{sf.bulk2_url}ingest/{job['id']}", headers=headers).status_code == 204
