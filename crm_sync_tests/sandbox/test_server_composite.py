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


def _mixed_composite(marker: str, inner_all_or_none: bool) -> list[dict]:
    """Salesforce's own example (allOrNone Parameters in Composite and Collections Requests), with a record
    before it: one Account, a collection of two Accounts of which the second fails (no Name), one Contact."""
    return [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "single",
         "body": {"Name": f"{marker} single"}},
        {"method": "POST", "url": "/services/data/v59.0/composite/sobjects", "referenceId": "newAccounts",
         "body": {"allOrNone": inner_all_or_none, "records": _accounts([f"{marker} good", None])}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "newContact",
         "body": {"LastName": marker}},
    ]


def _record_codes(results: list[dict]) -> list[str | None]:
    return [None if r["success"] else r["errors"][0]["statusCode"] for r in results]


@pytest.mark.parametrize("inner_all_or_none", [True, False])
def test_composite_all_or_none_rolls_back_a_collection_with_a_failed_record(
        sf, admin: SandboxAdmin, marker: str, inner_all_or_none: bool) -> None:
    # the composite's allOrNone=true overrides the collection's: its failed record fails the whole request
    before = admin.counts()
    responses = _composite(sf, _mixed_composite(marker, inner_all_or_none), all_or_none=True)
    assert [r["referenceId"] for r in responses] == ["single", "newAccounts", "newContact"]
    assert [r["httpStatusCode"] for r in responses] == [400, 200, 400]
    halted = [{"errorCode": "PROCESSING_HALTED",
               "message": "The transaction was rolled back since another operation in the same transaction failed."}]
    assert responses[0]["body"] == halted and responses[2]["body"] == halted
    assert _record_codes(responses[1]["body"]) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]
    assert _count(sf, marker) == 0
    assert _count(sf, marker, "Contact", "LastName") == 0
    assert admin.counts() == before


@pytest.mark.parametrize("inner_all_or_none", [True, False])
def test_composite_without_all_or_none_leaves_a_collection_to_its_own_flag(
        sf, marker: str, inner_all_or_none: bool) -> None:
    responses = _composite(sf, _mixed_composite(marker, inner_all_or_none), all_or_none=False)
    assert [r["httpStatusCode"] for r in responses] == [201, 200, 201]
    first = "ALL_OR_NONE_OPERATION_ROLLED_BACK" if inner_all_or_none else None
    assert _record_codes(responses[1]["body"]) == [first, "REQUIRED_FIELD_MISSING"]
    stored = {r["Name"] for r in sf.query(f"SELECT Name FROM Account WHERE Name LIKE '{marker}%'")["records"]}
    assert stored == ({f"{marker} single"} if inner_all_or_none else {f"{marker} single", f"{marker} good"})
    assert _count(sf, marker, "Contact", "LastName") == 1


def test_composite_all_or_none_undoes_a_collection_that_succeeded_before_a_later_failure(
        sf, marker: str) -> None:
    responses = _composite(sf, [
        {"method": "POST", "url": "/services/data/v59.0/composite/sobjects", "referenceId": "newAccounts",
         "body": {"allOrNone": True, "records": _accounts([f"{marker} 1", f"{marker} 2"])}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "bad", "body": {}},
    ], all_or_none=True)
    assert [r["httpStatusCode"] for r in responses] == [400, 400]
    assert [r["body"][0]["errorCode"] for r in responses] == ["PROCESSING_HALTED", "REQUIRED_FIELD_MISSING"]
    assert _count(sf, marker) == 0


def test_composite_all_or_none_overrides_a_delete_collections_flag(sf, marker: str) -> None:
    account = sf.Account.create({"Name": marker})["id"]
    responses = _composite(sf, [
        {"method": "DELETE", "url": f"/services/data/v59.0/composite/sobjects?ids={account},001garbage&allOrNone=false",
         "referenceId": "gone"},
    ], all_or_none=True)
    assert responses[0]["httpStatusCode"] == 200
    assert _record_codes(responses[0]["body"]) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "MALFORMED_ID"]
    assert _count(sf, marker) == 1
