"""query / queryAll with nextRecordsUrl pages, snapshots, describe, versions and limits."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from crm_sync.sandbox.process import SandboxInfo


def _pages(sf, soql: str, batch_size: int) -> list[dict]:
    headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
    page = sf.query(soql, headers=headers)
    pages = [page]
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        pages.append(page)
    return pages


def test_query_all_across_pages(sf) -> None:
    count = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    assert count > 1000
    pages = _pages(sf, "SELECT Id, Name, Account.Name FROM Contact ORDER BY Id", 200)
    assert len(pages) == -(-count // 200)
    assert all(p["totalSize"] == count for p in pages)
    assert [len(p["records"]) for p in pages[:-1]] == [200] * (len(pages) - 1)
    assert pages[0]["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    ids = [r["Id"] for p in pages for r in p["records"]]
    assert ids == sorted(ids) and len(set(ids)) == count
    assert pages[0]["records"][0]["attributes"]["type"] == "Contact"
    everything = sf.query_all("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    assert everything["totalSize"] == count


def test_default_page_is_2000_records(sf) -> None:
    total = sf.query("SELECT COUNT() FROM Task")["totalSize"]
    first = sf.query("SELECT Id FROM Task")
    assert first["totalSize"] == total
    assert len(first["records"]) == min(total, 2000)
    assert first["done"] == (total <= 2000)


def test_batch_size_is_clamped_to_200(sf) -> None:
    first = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=10"})
    assert len(first["records"]) == 200


def test_a_cursor_is_a_snapshot(sf, marker: str) -> None:
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name DESC", headers=headers)
    total = first["totalSize"]
    created = sf.Account.create({"Name": f"AAA {marker}"})["id"]  # sorts last: would land on a later page
    rest = []
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        rest.extend(page["records"])
    ids = [r["Id"] for r in first["records"] + rest]
    assert len(ids) == total and created not in ids
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == total + 1


def test_retrying_a_page_gives_it_again(sf) -> None:
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id FROM Contact", headers=headers)
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, headers=headers)
    again = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, headers=headers)
    assert [r["Id"] for r in second["records"]] == [r["Id"] for r in again["records"]]


def test_unknown_locator_is_invalid_query_locator(sf) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query_more("/services/data/v59.0/query/01g8a00000AAAAAAAA-2000", identifier_is_url=True)
    assert failure.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_shows_deleted_records(sf, marker: str) -> None:
    created = [sf.Account.create({"Name": f"{marker} {i}"})["id"] for i in range(3)]
    sf.Account.delete(created[0])
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Name LIKE '{marker}%' ORDER BY Id"
    live = sf.query_all(soql)["records"]
    assert [r["Id"] for r in live] == created[1:]
    everything = sf.query_all(soql, include_deleted=True)["records"]
    assert {r["Id"]: r["IsDeleted"] for r in everything} == {created[0]: True, created[1]: False, created[2]: False}


def test_count_query(sf) -> None:
    answer = sf.query("SELECT COUNT() FROM Account WHERE Name != null")
    assert answer["done"] is True and answer["records"] == []
    assert answer["totalSize"] == len(sf.query_all("SELECT Id FROM Account")["records"])


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELEC Id FROM Account", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
    ],
)
def test_bad_soql_is_a_malformed_request(sf, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query(soql)
    assert failure.value.status == 400
    assert failure.value.content[0]["errorCode"] == code


def test_describe_global_and_describe(sf) -> None:
    described = sf.describe()
    assert described["maxBatchSize"] == 200
    names = {o["name"]: o for o in described["sobjects"]}
    assert names["Account"]["keyPrefix"] == "001"
    account = sf.Account.describe()
    fields = {f["name"]: f for f in account["fields"]}
    assert fields["External_Id__c"]["externalId"] is True
    assert fields["SystemModstamp"]["updateable"] is False
    assert sf.Contact.metadata()["objectDescribe"]["name"] == "Contact"


def test_unknown_object_is_not_found(sf) -> None:
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Nope__c.describe()
    assert failure.value.content == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


def test_versions_resources_and_limits(sandbox: SandboxInfo, sf) -> None:
    session = sandbox.http_session()
    versions = session.get(f"{sandbox.instance_url}/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    resources = sf.restful("")
    assert resources["query"] == "/services/data/v59.0/query"
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] >= limits["DailyApiRequests"]["Remaining"] > 0
    assert {"DailyBulkV2QueryJobs", "DailyBulkApiBatches", "DataStorageMB"} <= set(limits)


def test_unknown_path_and_xml_are_refused(sandbox: SandboxInfo, sf) -> None:
    session = sandbox.http_session()
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    missing = session.get(f"{sandbox.instance_url}/services/data/v59.0/nothing/here", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    outside = session.get(f"{sandbox.instance_url}/somewhere/else")
    assert outside.status_code == 404 and outside.json()[0]["errorCode"] == "NOT_FOUND"
    for path in ("/services/data/v59.0/search?q=FIND+{x}", "/services/data/v59.0/sobjects/Account/listviews",
                 "/services/apexrest/thing"):
        refused = session.get(f"{sandbox.instance_url}{path}", headers=headers)
        assert refused.status_code == 501, path
        assert refused.json()[0]["errorCode"] == "NOT_SUPPORTED_BY_SANDBOX"
        assert "not supported by the crm_sync sandbox" in refused.json()[0]["message"]
    xml = session.get(f"{sandbox.instance_url}/services/data/v59.0/limits",
                      headers={**headers, "Accept": "application/xml"})
    assert xml.status_code == 501
    assert "XML" in xml.json()[0]["message"] and "not supported" in xml.json()[0]["message"]
