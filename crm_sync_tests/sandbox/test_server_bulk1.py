"""Bulk API 1.0 query jobs: unmodified simple-salesforce (`sf.bulk`), and plain requests for XML, CSV, PK chunking."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime
from xml.etree import ElementTree

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo

NS = {"a": "http://www.force.com/2009/06/asyncapi/dataload"}
XML_JOB = ('<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
           "<operation>{operation}</operation><object>{obj}</object><contentType>{content}</contentType></jobInfo>")


class Bulk1:
    """Plain requests against /services/async/59.0/ with the session in X-SFDC-Session."""

    def __init__(self, sandbox: SandboxInfo, sf) -> None:
        self.base = f"{sandbox.instance_url}/services/async/59.0/"
        self.session = sandbox.http_session()
        self.session.headers["X-SFDC-Session"] = sf.session_id

    def call(self, method: str, path: str, **kwargs):
        return self.session.request(method, self.base + path, timeout=60, **kwargs)

    def xml_job(self, obj: str, content: str = "XML", operation: str = "query", **headers: str) -> str:
        answer = self.call("POST", "job", data=XML_JOB.format(operation=operation, obj=obj, content=content),
                           headers={"Content-Type": "application/xml; charset=UTF-8", **headers})
        assert answer.status_code == 201, answer.text
        return ElementTree.fromstring(answer.content).find("a:id", NS).text

    def batch(self, job_id: str, soql: str) -> str:
        answer = self.call("POST", f"job/{job_id}/batch", data=soql.encode(), headers={"Content-Type": "text/csv"})
        assert answer.status_code == 201, answer.text
        return ElementTree.fromstring(answer.content).find("a:id", NS).text

    def wait(self, job_id: str, batch_id: str) -> ElementTree.Element:
        for _ in range(400):
            info = ElementTree.fromstring(self.call("GET", f"job/{job_id}/batch/{batch_id}").content)
            if info.find("a:state", NS).text in ("Completed", "Failed", "NotProcessed"):
                return info
            time.sleep(0.025)
        raise AssertionError(f"batch {batch_id} did not finish")


@pytest.fixture(scope="module")
def bulk1(sandbox: SandboxInfo, sf) -> Bulk1:
    return Bulk1(sandbox, sf)


def test_simple_salesforce_bulk_query_matches_rest(sf) -> None:
    soql = "SELECT Id, Name, CreatedDate, NumberOfEmployees, Owner.Email FROM Account"
    rest = {r["Id"]: r for r in sf.query_all(soql)["records"]}
    records = sf.bulk.Account.query(soql, wait=0.05)
    assert len(records) == len(rest) and {r["Id"] for r in records} == set(rest)
    first = records[0]
    expected = rest[first["Id"]]
    assert list(first) == ["attributes", "Id", "Name", "CreatedDate", "NumberOfEmployees", "Owner"]
    assert (first["Name"], first["NumberOfEmployees"]) == (expected["Name"], expected["NumberOfEmployees"])
    assert first["Owner"]["Email"] == expected["Owner"]["Email"]
    # Bulk API 1.0 JSON writes datetimes as epoch milliseconds
    rest_created = datetime.strptime(expected["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert first["CreatedDate"] == int(rest_created.timestamp() * 1000)


def test_simple_salesforce_lazy_query_all_includes_deleted(sf, marker: str) -> None:
    record_id = sf.Lead.create({"LastName": marker, "Company": marker})["id"]
    sf.Lead.delete(record_id)
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE LastName = '{marker}'"
    assert sf.bulk.Lead.query(soql, wait=0.05) == []
    pages = sf.bulk.Lead.query_all(soql, lazy_operation=True, wait=0.05)
    assert not isinstance(pages, list)
    assert [row for page in pages for row in page] == [
        {"attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{record_id}"},
         "Id": record_id, "IsDeleted": True}]


def test_xml_job_end_to_end(bulk1: Bulk1, sf) -> None:
    job_id = bulk1.xml_job("Contact")
    batch_id = bulk1.batch(job_id, "SELECT Id, LastName, HasOptedOutOfEmail, Account.Name FROM Contact "
                                   "ORDER BY Id LIMIT 5")
    closed = ElementTree.fromstring(bulk1.call("POST", f"job/{job_id}", headers={"Content-Type": "application/xml"},
                                               data=b'<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/'
                                                    b'dataload"><state>Closed</state></jobInfo>').content)
    assert closed.find("a:state", NS).text == "Closed"
    info = bulk1.wait(job_id, batch_id)
    assert info.find("a:state", NS).text == "Completed" and info.find("a:numberRecordsProcessed", NS).text == "5"
    listed = ElementTree.fromstring(bulk1.call("GET", f"job/{job_id}/batch/{batch_id}/result").content)
    [result_id] = [node.text for node in listed.findall("a:result", NS)]
    body = bulk1.call("GET", f"job/{job_id}/batch/{batch_id}/result/{result_id}")
    assert body.headers["Content-Type"].startswith("application/xml")
    records = ElementTree.fromstring(body.content).findall("a:records", NS)
    expected = sf.query("SELECT Id, LastName, Account.Name FROM Contact ORDER BY Id LIMIT 5")["records"]
    assert [r.find("a:Id", NS).text for r in records] == [e["Id"] for e in expected]
    assert records[0].find("a:HasOptedOutOfEmail", NS).text in ("true", "false")
    account = records[0].find("a:Account", NS)
    assert account.find("a:type", NS).text == "Account"
    assert account.find("a:Name", NS).text == (expected[0]["Account"] or {}).get("Name")
    request = bulk1.call("GET", f"job/{job_id}/batch/{batch_id}/request")
    assert request.text.startswith("SELECT Id, LastName")


def test_csv_job_results_as_bulk2_writes_them(bulk1: Bulk1, sf) -> None:
    job_id = bulk1.xml_job("Account", content="CSV")
    batch_id = bulk1.batch(job_id, "SELECT Id, Name FROM Account ORDER BY Id LIMIT 3")
    bulk1.wait(job_id, batch_id)
    [result_id] = [n.text for n in ElementTree.fromstring(
        bulk1.call("GET", f"job/{job_id}/batch/{batch_id}/result").content).findall("a:result", NS)]
    rows = list(csv.DictReader(io.StringIO(bulk1.call("GET", f"job/{job_id}/batch/{batch_id}/result/{result_id}").text)))
    expected = sf.query("SELECT Id, Name FROM Account ORDER BY Id LIMIT 3")["records"]
    assert rows == [{"Id": r["Id"], "Name": r["Name"]} for r in expected]


def test_pk_chunking_splits_the_batch_by_id_ranges(bulk1: Bulk1, sf) -> None:
    total = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    job = bulk1.call("POST", "job", headers={"Content-Type": "application/json", "Sforce-Enable-PKChunking": "chunkSize=70"},
                     json={"operation": "query", "object": "Account", "contentType": "JSON"})
    assert job.status_code == 201
    job_id = job.json()["id"]
    original = bulk1.call("POST", f"job/{job_id}/batch", data=b"SELECT Id FROM Account",
                          headers={"Content-Type": "application/json"}).json()
    assert original["state"] == "NotProcessed"
    for _ in range(400):
        batches = bulk1.call("GET", f"job/{job_id}/batch", headers={"Content-Type": "application/json"}).json()
        chunks = [b for b in batches["batchInfo"] if b["id"] != original["id"]]
        if all(b["state"] == "Completed" for b in chunks):
            break
        time.sleep(0.025)
    table_rows = sf.query("SELECT COUNT() FROM Account", include_deleted=True)["totalSize"]
    assert len(chunks) == -(-table_rows // 70)
    seen: list[str] = []
    for chunk in chunks:
        [result_id] = bulk1.call("GET", f"job/{job_id}/batch/{chunk['id']}/result",
                                 headers={"Content-Type": "application/json"}).json()
        rows = bulk1.call("GET", f"job/{job_id}/batch/{chunk['id']}/result/{result_id}").json()
        assert len(rows) == chunk["numberRecordsProcessed"] <= 70
        seen += [row["Id"] for row in rows]
    assert len(seen) == len(set(seen)) == total


@pytest.mark.parametrize("header", ["chunkSize=250001", "chunkSize=0", "startRow=001", "bogus"])
def test_bad_pk_chunking_header_is_invalid_job(bulk1: Bulk1, header: str) -> None:
    answer = bulk1.call("POST", "job", headers={"Content-Type": "application/json", "Sforce-Enable-PKChunking": header},
                        json={"operation": "query", "object": "Account", "contentType": "JSON"})
    assert answer.status_code == 400 and answer.json()["exceptionCode"] == "InvalidJob"


def test_ingest_is_refused_as_async_api_not_enabled(sf, marker: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.bulk.Account.insert([{"Name": marker}])
    assert failure.value.status == 400
    assert failure.value.content["exceptionCode"] == "FeatureNotEnabled"
    assert "insert" in failure.value.content["exceptionMessage"]
    assert "not supported by the crm_sync sandbox" in failure.value.content["exceptionMessage"]
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name = '{marker}'")["totalSize"] == 0


def test_ingest_refusal_in_xml(bulk1: Bulk1) -> None:
    answer = bulk1.call("POST", "job", data=XML_JOB.format(operation="upsert", obj="Account", content="XML"),
                        headers={"Content-Type": "application/xml"})
    assert answer.status_code == 400
    error = ElementTree.fromstring(answer.content)
    assert error.tag == f"{{{NS['a']}}}error" and error.find("a:exceptionCode", NS).text == "FeatureNotEnabled"


def test_a_failing_query_fails_its_batch_with_the_reason(sf) -> None:
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.bulk.Account.query("SELECT Id, BillingAddress FROM Account", wait=0.05)
    assert "Selecting compound data not supported in Bulk Query" in str(failure.value.content)
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.bulk.Account.query("SELECT Id, Nope FROM Account", wait=0.05)
    assert "INVALID_FIELD" in str(failure.value.content)


def test_errors_in_bulk_shape(sandbox: SandboxInfo, bulk1: Bulk1) -> None:
    anonymous = sandbox.http_session().post(bulk1.base + "job", json={}, headers={"Content-Type": "application/json"})
    assert (anonymous.status_code, anonymous.json()["exceptionCode"]) == (400, "InvalidSessionId")
    retired = bulk1.session.get(bulk1.base.replace("59.0", "20.0") + "job/x", headers={"Accept": "application/json"})
    assert retired.json()["exceptionCode"] == "InvalidVersion"
    missing = bulk1.call("GET", "job/7508a0000000000AAA", headers={"Accept": "application/json"})
    assert (missing.status_code, missing.json()["exceptionCode"]) == (400, "InvalidJob")
    unknown = bulk1.call("POST", "job", json={"operation": "query", "object": "Nope", "contentType": "JSON"})
    assert unknown.json() == {"exceptionCode": "InvalidJob", "exceptionMessage": "Unable to find object: Nope"}
    job_id = bulk1.xml_job("Account")
    bulk1.call("POST", f"job/{job_id}", json={"state": "Aborted"})
    late = bulk1.call("POST", f"job/{job_id}/batch", data=b"SELECT Id FROM Account",
                      headers={"Content-Type": "application/json"})
    assert late.json()["exceptionCode"] == "InvalidJobState"


def test_each_bulk1_request_counts_one_api_call_and_each_batch_one_batch(bulk1: Bulk1, sf,
                                                                        admin: SandboxAdmin) -> None:
    batches_before = sf.limits()["DailyBulkApiBatches"]["Remaining"]
    before = admin.api_usage()["used"]  # admin calls are never counted
    job_id = bulk1.xml_job("Account")
    assert admin.api_usage()["used"] == before + 1
    batch_id = bulk1.batch(job_id, "SELECT Id FROM Account LIMIT 1")
    assert admin.api_usage()["used"] == before + 2
    bulk1.wait(job_id, batch_id)
    polled = admin.api_usage()["used"]
    assert polled >= before + 3
    bulk1.call("GET", f"job/{job_id}/batch/{batch_id}/result")
    assert admin.api_usage()["used"] == polled + 1
    assert sf.limits()["DailyBulkApiBatches"]["Remaining"] == batches_before - 1
