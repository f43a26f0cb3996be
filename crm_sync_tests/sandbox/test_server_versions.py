"""API versions the sandbox does not serve answer as Salesforce does; unsupported paths name what is missing."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceResourceNotFound

from crm_sync.sandbox.process import SandboxInfo

NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


@pytest.fixture(scope="module")
def http(sandbox: SandboxInfo, sf) -> requests.Session:
    session = sandbox.http_session()
    session.headers["Authorization"] = f"Bearer {sf.session_id}"
    return session


@pytest.mark.parametrize("version", ["v99.0", "v63.0", "v59", "59.0", "vX.0", "v0.0"])
def test_unknown_version_is_not_found(sandbox: SandboxInfo, http, version: str) -> None:
    for tail in ("/limits", "/sobjects/Account/describe", ""):
        answer = http.get(f"{sandbox.instance_url}/services/data/{version}{tail}")
        assert (answer.status_code, answer.json()) == (404, NOT_FOUND), (version, tail)


def test_retired_version_is_gone(sandbox: SandboxInfo, http) -> None:
    answer = http.get(f"{sandbox.instance_url}/services/data/v20.0/query", params={"q": "SELECT Id FROM User"})
    assert answer.status_code == 410
    [error] = answer.json()
    assert error["errorCode"] == "API_VERSION_RETIRED" and "20.0" in error["message"]


def test_every_listed_version_is_served(sandbox: SandboxInfo, http) -> None:
    listed = http.get(f"{sandbox.instance_url}/services/data/").json()
    assert [v["version"] for v in listed] == [f"{n}.0" for n in range(31, 63)]
    for entry in (listed[0], listed[-1]):
        assert http.get(f"{sandbox.instance_url}{entry['url']}/limits").status_code == 200


def test_simple_salesforce_on_an_unknown_version_gets_not_found(sandbox: SandboxInfo) -> None:
    sf = sandbox.salesforce("direct", version="99.0")
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert failure.value.content == NOT_FOUND


def test_soap_login_on_a_retired_version_is_a_fault(sandbox: SandboxInfo) -> None:
    answer = sandbox.http_session().post(f"{sandbox.instance_url}/services/Soap/u/20.0", data=b"<x/>",
                                         headers={"Content-Type": "text/xml", "SOAPAction": "login"})
    assert answer.status_code == 500
    assert "<faultcode>sf:UNSUPPORTED_API_VERSION</faultcode>" in answer.text


def test_composite_subrequest_on_an_unknown_version_is_refused(sandbox: SandboxInfo, http) -> None:
    body = {"compositeRequest": [{"method": "GET", "url": "/services/data/v99.0/limits", "referenceId": "a"}]}
    answer = http.post(f"{sandbox.instance_url}/services/data/v59.0/composite", json=body).json()
    [sub] = answer["compositeResponse"]
    assert sub["httpStatusCode"] == 400 and sub["body"][0]["errorCode"] == "INVALID_URL"


@pytest.mark.parametrize(("path", "named"), [
    ("/services/data/v59.0/tooling/query?q=SELECT+Id+FROM+ApexClass", "/tooling"),
    ("/services/data/v59.0/sobjects/Account/describe/layouts", "/sobjects/Account/describe/layouts"),
    ("/services/oauth2/authorize", "/services/oauth2/authorize"),
    ("/services/apexrest/my/service", "/services/apexrest/my"),
])
def test_unsupported_paths_name_what_is_missing(sandbox: SandboxInfo, http, path: str, named: str) -> None:
    answer = http.get(f"{sandbox.instance_url}{path}")
    assert answer.status_code == 501
    [error] = answer.json()
    assert error["errorCode"] == "NOT_SUPPORTED_BY_SANDBOX"
    assert named in error["message"] and "not supported by the crm_sync sandbox" in error["message"]
