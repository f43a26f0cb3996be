"""Names are case-insensitive at every entry point, as in Salesforce: property tests over random casings.

JSON bodies (REST rows, sObject Collections, `attributes` / `type` / `Id` too), SOQL, describe and
record URLs, the `fields=` parameter and Bulk ingest CSV headers. Whatever the casing asked, answers
name objects and fields as describe does.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_sync.sandbox.process import SandboxInfo

API = "/services/data/v59.0"
PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def casing(name: str) -> st.SearchStrategy[str]:
    """`name` with each letter upper- or lower-case at random."""
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flips: "".join(c.upper() if up else c.lower() for c, up in zip(name, flips, strict=True)))


class Api:
    """Plain requests against the sandbox with a bearer token."""

    def __init__(self, sandbox: SandboxInfo) -> None:
        self.base = sandbox.instance_url + API
        self.session = sandbox.http_session()
        token = sandbox.oauth_token("client_credentials")["access_token"]
        self.session.headers.update({"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kwargs):
        return self.session.request(method, self.base + path, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def api(sandbox: SandboxInfo) -> Api:
    return Api(sandbox)


@pytest.fixture(scope="module")
def account_id(api: Api) -> str:
    answer = api.call("POST", "/sobjects/Account", json={"Name": "name-case account"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@PROPERTY
@given(attributes=casing("attributes"), type_key=casing("type"), obj=casing("Account"), id_key=casing("Id"),
       name_key=casing("Name"), city_key=casing("BillingCity"), n=st.integers(0, 10**6))
def test_collections_update_takes_any_casing(api: Api, account_id: str, attributes: str, type_key: str,
                                             obj: str, id_key: str, name_key: str, city_key: str, n: int) -> None:
    record = {attributes: {type_key: obj}, id_key: account_id, name_key: f"acct {n}", city_key: f"city {n}"}
    answer = api.call("PATCH", "/composite/sobjects", json={"allOrNone": True, "records": [record]})
    assert answer.status_code == 200
    assert answer.json() == [{"id": account_id, "success": True, "errors": []}]
    stored = api.call("GET", f"/sobjects/Account/{account_id}", params={"fields": "Name,BillingCity"}).json()
    assert (stored["Name"], stored["BillingCity"]) == (f"acct {n}", f"city {n}")


@PROPERTY
@given(obj=casing("Account"), id_key=casing("Id"), name_key=casing("Name"), n=st.integers(0, 10**6))
def test_rest_row_update_and_read_take_any_casing(api: Api, account_id: str, obj: str, id_key: str,
                                                  name_key: str, n: int) -> None:
    answer = api.call("PATCH", f"/sobjects/{obj}/{account_id}", json={id_key: account_id, name_key: f"row {n}"})
    assert answer.status_code == 204, answer.text
    got = api.call("GET", f"/sobjects/{obj}/{account_id}", params={"fields": f"{id_key},{name_key}"}).json()
    assert got == {"attributes": got["attributes"], "Id": account_id, "Name": f"row {n}"}
    assert got["attributes"]["type"] == "Account"


@PROPERTY
@given(select=casing("SELECT"), id_key=casing("Id"), name_key=casing("Name"), obj=casing("Contact"),
       rel=casing("Account"), where=casing("WHERE"), last=casing("LastName"))
def test_soql_and_describe_take_any_casing(api: Api, select: str, id_key: str, name_key: str, obj: str,
                                           rel: str, where: str, last: str) -> None:
    soql = f"{select} {id_key}, {rel}.{name_key} FROM {obj} {where} {last} != null ORDER BY {id_key} LIMIT 3"
    answer = api.call("GET", "/query", params={"q": soql})
    assert answer.status_code == 200, answer.text
    canonical = api.call("GET", "/query", params={
        "q": "SELECT Id, Account.Name FROM Contact WHERE LastName != null ORDER BY Id LIMIT 3"}).json()
    assert answer.json() == canonical
    described = api.call("GET", f"/sobjects/{obj}/describe")
    assert described.status_code == 200 and described.json()["name"] == "Contact"


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(last=casing("LastName"), email=casing("Email"), obj=casing("Contact"))
def test_bulk_ingest_csv_header_takes_any_casing(sf, marker: str, last: str, email: str, obj: str) -> None:
    name = f"{marker}-{uuid.uuid4().hex[:10]}"  # one name per example (hypothesis repeats drawn values)
    results = getattr(sf.bulk2, obj).insert(records=[{last: name, email: f"{name}@example.com"}], wait=0)
    assert [(r["numberRecordsProcessed"], r["numberRecordsFailed"]) for r in results] == [(1, 0)]
    found = sf.query(f"SELECT LastName, Email FROM Contact WHERE LastName = '{name}'")["records"]
    assert [(r["LastName"], r["Email"]) for r in found] == [(name, f"{name}@example.com")]
