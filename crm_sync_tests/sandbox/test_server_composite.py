"""sObject Collections and /composite through simple-salesforce's restful()."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_sync.sandbox.admin_client import SandboxAdmin


def _accounts(names: list[str | None]) -> list[dict]:
    return [{"attributes": {"type": "Account"}, **({"Name": n} if n is not None else {})} for n in names]


def _count(sf, marker: str, obj: str = "Account", field: str = "Name") -> int:
    return sf.query(f"SELECT COUNT() FROM {obj} WHERE {field} LIKE '{marker}%'")["totalSize"]


def test_collection_create_update_delete_with_per_record_errors(sf, marker: str) -> None:
    results = sf.restful("composite/sobjects", method="POST",
                         json={"allOrNone": False, "records": _accounts([f"{marker} a", None, f"{marker} b"])})
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1] == {"success": False, "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}]}
    created = [results[0]["id"], results[2]["id"]]
    updates = [{"attributes": {"type": "Account"}, "Id": created[0], "Industry": "Media"},
               {"attributes": {"type": "Account"}, "Id": created[1], "NumberOfEmployees": "lots"}]
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": updates})
    assert updated[0] == {"id": created[0], "success": True, "errors": []}
    assert updated[1]["id"] == created[1] and updated[1]["errors"][0]["statusCode"] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert sf.Account.get(created[0])["Industry"] == "Media"
    deleted = sf.restful("composite/sobjects", method="DELETE",
                         params={"ids": ",".join(created + ["001garbage"]), "allOrNone": "false"})
    assert [r["success"] for r in deleted] == [True, True, False]
    assert deleted[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert _count(sf, marker) == 0


def test_collection_all_or_none_rolls_back(sf, admin: SandboxAdmin, marker: str) -> None:
    before = admin.counts()
    results = sf.restful("composite/sobjects", method="POST",
                         json={"allOrNone": True, "records": _accounts([f"{marker} 1", f"{marker} 2", None])})
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert admin.counts() == before
    assert _count(sf, marker) == 0


def test_collection_upsert_by_external_id(sf, marker: str) -> None:
    records = [{"attributes": {"type": "Account"}, "External_Id__c": f"{marker}-{i}", "Name": f"{marker} {i}"}
               for i in range(3)]
    first = sf.restful("composite/sobjects/Account/External_Id__c", method="PATCH",
                       json={"allOrNone": False, "records": records})
    assert [r["created"] for r in first] == [True, True, True]
    records[1]["Name"] = f"{marker} renamed"
    second = sf.restful("composite/sobjects/Account/External_Id__c", method="PATCH",
                        json={"allOrNone": False, "records": records})
    assert [r["created"] for r in second] == [False, False, False]
    assert [r["id"] for r in second] == [r["id"] for r in first]
    assert sf.Account.get(first[1]["id"])["Name"] == f"{marker} renamed"


def test_more_than_200_records_is_refused_whole(sf, admin: SandboxAdmin, marker: str) -> None:
    before = admin.counts()
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST",
                   json={"records": _accounts([f"{marker} {i}" for i in range(201)])})
    assert failure.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert admin.counts() == before


def test_collection_retrieve(sf, marker: str) -> None:
    ids = [sf.Account.create({"Name": f"{marker} {i}"})["id"] for i in range(2)]
    missing = "0018a00000ZZZZZAAA"
    found = sf.restful("composite/sobjects/Account", params={"ids": ",".join(ids + [missing]), "fields": "Id,Name"})
    assert [r["Name"] if r else None for r in found] == [f"{marker} 0", f"{marker} 1", None]


def _composite(sf, subrequests: list[dict], all_or_none: bool = False) -> list[dict]:
    answer = sf.restful("composite", method="POST",
                        json={"allOrNone": all_or_none, "compositeRequest": subrequests})
    return answer["compositeResponse"]


def test_composite_with_references_is_one_api_call(sf, marker: str) -> None:
    sf.limits()
    used_before = sf.api_usage["api-usage"].used
    responses = _composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acc",
         "body": {"Name": marker}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "con",
         "body": {"LastName": marker, "AccountId": "@{acc.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/@{con.id}?fields=AccountId",
         "referenceId": "read"},
        {"method": "GET", "url": f"/services/data/v59.0/query?q=SELECT+Id+FROM+Account+WHERE+Name='{marker}'",
         "referenceId": "q"},
        {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "limits"},
    ], all_or_none=True)
    assert [r["httpStatusCode"] for r in responses] == [201, 201, 200, 200, 200]
    account_id = responses[0]["body"]["id"]
    assert responses[0]["httpHeaders"]["Location"].endswith(account_id)
    assert responses[2]["body"]["AccountId"] == account_id
    assert responses[3]["body"]["records"][0]["Id"] == account_id
    assert sf.api_usage["api-usage"].used == used_before + 1


def test_composite_all_or_none_rolls_back_everything(sf, admin: SandboxAdmin, marker: str) -> None:
    before = admin.counts()
    responses = _composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acc",
         "body": {"Name": marker}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "bad",
         "body": {"AccountId": "@{acc.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "after"},
    ], all_or_none=True)
    codes = [r["body"][0]["errorCode"] for r in responses]
    assert codes == ["PROCESSING_HALTED", "REQUIRED_FIELD_MISSING", "PROCESSING_HALTED"]
    assert admin.counts() == before


def test_composite_without_all_or_none_keeps_going(sf, marker: str) -> None:
    responses = _composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "bad", "body": {}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "child",
         "body": {"LastName": marker, "AccountId": "@{bad.id}"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "good",
         "body": {"Name": marker}},
    ])
    assert [r["httpStatusCode"] for r in responses] == [400, 400, 201]
    assert responses[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert _count(sf, marker) == 1
