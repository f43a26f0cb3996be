"""Compound address fields: in describe, served by REST queries as nested objects, refused by Bulk queries."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_sync.sandbox.process import SandboxInfo

COMPOUND = {"Account": ["BillingAddress", "ShippingAddress"], "Contact": ["MailingAddress", "OtherAddress"]}
ADDRESS_KEYS = ["city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode", "state", "street"]


@pytest.mark.parametrize("obj", sorted(COMPOUND))
def test_describe_lists_the_compound_fields_after_their_components(sf, obj: str) -> None:
    fields = getattr(sf, obj).describe()["fields"]
    by_name = {f["name"]: f for f in fields}
    names = [f["name"] for f in fields]
    for compound in COMPOUND[obj]:
        described = by_name[compound]
        assert described["type"] == "address" and described["soapType"] == "urn:address"
        assert not (described["createable"] or described["updateable"] or described["filterable"])
        assert described["compoundFieldName"] is None
        components = [f["name"] for f in fields if f["compoundFieldName"] == compound]
        prefix = compound.removesuffix("Address")
        assert {f"{prefix}Street", f"{prefix}City", f"{prefix}PostalCode", f"{prefix}Latitude"} <= set(components)
        assert names.index(compound) == max(names.index(c) for c in components) + 1


def test_rest_query_serves_an_address_as_a_nested_object(sf, marker: str) -> None:
    account_id = sf.Account.create({"Name": marker, "BillingStreet": "1 Main St", "BillingCity": "Berlin",
                                    "BillingPostalCode": "10115", "BillingLatitude": 52.5})["id"]
    contact_id = sf.Contact.create({"LastName": marker, "AccountId": account_id})["id"]
    [account] = sf.query(f"SELECT Id, BillingAddress, shippingaddress FROM Account WHERE Id = '{account_id}'")["records"]
    assert list(account["BillingAddress"]) == ADDRESS_KEYS
    assert account["BillingAddress"] == {"city": "Berlin", "country": None, "geocodeAccuracy": None,
                                         "latitude": 52.5, "longitude": None, "postalCode": "10115",
                                         "state": None, "street": "1 Main St"}
    assert account["ShippingAddress"] is None  # every component null
    [contact] = sf.query(f"SELECT Account.BillingAddress, MailingAddress FROM Contact WHERE Id = '{contact_id}'")[
        "records"]
    assert contact["Account"]["BillingAddress"]["city"] == "Berlin" and contact["MailingAddress"] is None


@pytest.mark.parametrize(("soql", "word"), [
    ("SELECT Id FROM Account WHERE BillingAddress != null", "filtered"),
    ("SELECT Id FROM Account ORDER BY BillingAddress", "sorted"),
])
def test_compound_fields_cannot_be_filtered_or_sorted(sf, soql: str, word: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query(soql)
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert f"can not be {word}" in failure.value.content[0]["message"]


def test_compound_fields_are_read_only(sf, marker: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.create({"Name": marker, "BillingAddress": {"city": "Berlin"}})
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name = '{marker}'")["totalSize"] == 0


def test_bulk2_query_refuses_compound_fields(sandbox: SandboxInfo, sf) -> None:
    answer = sandbox.http_session().post(
        f"{sandbox.instance_url}/services/data/v59.0/jobs/query", timeout=60,
        headers={"Authorization": f"Bearer {sf.session_id}"},
        json={"operation": "query", "query": "SELECT Id, BillingAddress FROM Account"})
    assert answer.status_code == 400
    assert answer.json() == [{"errorCode": "FUNCTIONALITY_NOT_ENABLED",
                              "message": "Selecting compound data not supported in Bulk Query"}]
