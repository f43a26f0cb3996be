"""Admin test tooling with real causes: rotated (revoked) credentials, and fields removed then restored.

Unmodified simple-salesforce over HTTPS against a sandbox of this module's own (the shared one must keep
its credentials and fields). Its data directory is known, so each test reads the current sandbox.json.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceOperationError,
)

from crm_sync.sandbox.admin_client import SandboxAdmin, SandboxAdminError
from crm_sync.sandbox.hidden_fields import SYSTEM_FIELDS
from crm_sync.sandbox.process import SandboxInfo, load_sandbox_info, running_sandbox


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("admin-org")
    with running_sandbox(directory, records=300, seed=3):
        yield directory


@pytest.fixture
def info(data_dir: Path) -> SandboxInfo:
    """The sandbox's current sandbox.json (a rotation rewrites it)."""
    return load_sandbox_info(data_dir)


def _error(excinfo: pytest.ExceptionInfo) -> dict:
    return excinfo.value.content[0]


def _query_error(sf: Salesforce, soql: str) -> dict:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query(soql)
    return _error(failure)


def _token_error(info: SandboxInfo, **form: str) -> tuple[int, str]:
    response = info.http_session().post(f"{info.instance_url}/services/oauth2/token", data=form, timeout=60)
    return response.status_code, response.json()["error"]


def _field_names(sf: Salesforce, obj: str) -> set[str]:
    return {field["name"] for field in getattr(sf, obj).describe()["fields"]}


# ----- hidden fields --------------------------------------------------------------------------------

def test_a_hidden_custom_field_is_gone_everywhere_and_comes_back_with_its_data(info: SandboxInfo) -> None:
    sf = info.salesforce()
    admin = info.admin
    account_id = sf.Account.create({"Name": "hidden field holder", "Health_Score__c": 42.5})["id"]
    soql = f"SELECT Id, Health_Score__c FROM Account WHERE Id = '{account_id}'"
    assert sf.query(soql)["records"][0]["Health_Score__c"] == 42.5  # the parse of this text is cached now
    assert "Health_Score__c" in _field_names(sf, "Account")

    assert admin.hide_field("account", "health_score__c") == [{"object": "Account", "field": "Health_Score__c"}]
    assert admin.hidden_fields() == [{"object": "Account", "field": "Health_Score__c"}]
    try:
        assert "Health_Score__c" not in _field_names(sf, "Account")
        assert "Name" in _field_names(sf, "Account")
        # SOQL answers exactly as for a field the org never had
        unknown = _query_error(sf, soql.replace("Health_Score__c", "Retired_Field__c"))
        hidden = _query_error(sf, soql)
        assert hidden["errorCode"] == unknown["errorCode"] == "INVALID_FIELD"
        assert hidden["message"] == unknown["message"].replace("Retired_Field__c", "Health_Score__c")
        where = _query_error(sf, "SELECT Id FROM Account WHERE Health_Score__c > 1")
        assert where["errorCode"] == "INVALID_FIELD"
        assert sf.query(f"SELECT Id, Name FROM Account WHERE Id = '{account_id}'")["totalSize"] == 1
        record = sf.Account.get(account_id)
        assert "Health_Score__c" not in record and record["Name"] == "hidden field holder"

        # writes naming it
        with pytest.raises(SalesforceMalformedRequest) as failure:
            sf.Account.update(account_id, {"Health_Score__c": 1.0})
        assert _error(failure)["errorCode"] == "INVALID_FIELD"
        with pytest.raises(SalesforceMalformedRequest) as failure:
            sf.Account.create({"Name": "x", "Health_Score__c": 1.0})
        assert _error(failure)["errorCode"] == "INVALID_FIELD"
        with pytest.raises(SalesforceMalformedRequest) as failure:
            sf.Account.get(account_id + "?fields=Name,Health_Score__c")
        assert _error(failure)["errorCode"] == "INVALID_FIELD"
        sf.Account.update(account_id, {"Description": "written while the field was hidden"})

        # Bulk API 2.0: the query job is refused, an upload naming the column fails its job
        with pytest.raises(SalesforceMalformedRequest) as failure:
            list(sf.bulk2.Account.query(soql, wait=0))
        assert _error(failure)["errorCode"] == "INVALID_FIELD"
        with pytest.raises(SalesforceOperationError, match="Field name not found : Health_Score__c"):
            sf.bulk2.Account.update(records=[{"Id": account_id, "Health_Score__c": "3"}], wait=0)
    finally:
        assert admin.restore_field("Account", "Health_Score__c") == []

    assert admin.hidden_fields() == []
    assert "Health_Score__c" in _field_names(sf, "Account")
    assert sf.query(soql)["records"][0]["Health_Score__c"] == 42.5  # same text, compiled against the new catalog
    assert sf.Account.get(account_id)["Description"] == "written while the field was hidden"
    [page] = sf.bulk2.Account.query(soql, wait=0)
    assert "42.5" in page


def test_a_hidden_standard_reference_field_takes_its_relationship_along(info: SandboxInfo) -> None:
    sf = info.salesforce()
    admin = info.admin
    with_account = "SELECT Id, Account.Name FROM Contact WHERE AccountId != null LIMIT 1"
    expected = sf.query(with_account)["records"][0]
    admin.hide_field("Contact", "AccountId")
    try:
        assert "AccountId" not in _field_names(sf, "Contact")
        assert _query_error(sf, with_account)["errorCode"] == "INVALID_FIELD"
        assert sf.Contact.get(expected["Id"]).get("AccountId", "absent") == "absent"
    finally:
        admin.restore_field("Contact", "AccountId")
    assert sf.query(with_account)["records"][0] == expected


@pytest.mark.parametrize("field", sorted(SYSTEM_FIELDS))
def test_system_fields_cannot_be_hidden(info: SandboxInfo, field: str) -> None:
    with pytest.raises(SandboxAdminError) as failure:
        info.admin.hide_field("Account", field)
    assert failure.value.status == 400
    assert failure.value.body[0]["errorCode"] == "INVALID_ADMIN_REQUEST"
    assert f"Account.{field} is a system field" in failure.value.body[0]["message"]
    assert info.admin.hidden_fields() == []


@pytest.mark.parametrize(("obj", "field"), [("Account", "Nope__c"), ("Nope__c", "Name")])
def test_unknown_fields_are_not_found(info: SandboxInfo, obj: str, field: str) -> None:
    with pytest.raises(SandboxAdminError) as failure:
        info.admin.restore_field(obj, field)
    assert failure.value.status == 404


# ----- credentials ----------------------------------------------------------------------------------

def test_rotation_revokes_sessions_and_old_secrets_and_rewrites_sandbox_json(info: SandboxInfo,
                                                                             data_dir: Path) -> None:
    soap = info.salesforce("soap")
    direct = info.salesforce("direct")
    refresh_token = info.admin.mint_refresh_token()
    assert soap.query("SELECT COUNT() FROM Account")["totalSize"] > 0

    new = info.admin.rotate_credentials()
    assert isinstance(new, SandboxInfo)
    assert (new.username, new.client_id, new.org_id, new.instance_url) == (
        info.username, info.client_id, info.org_id, info.instance_url)
    assert new.password != info.password and new.security_token != info.security_token
    assert new.client_secret != info.client_secret
    assert load_sandbox_info(data_dir) == new
    assert json.loads((data_dir / "credentials.json").read_text())["password"] == new.password

    # sessions: 401 INVALID_SESSION_ID; the SOAP client's own re-login with the old secrets fails
    with pytest.raises(SalesforceExpiredSession):
        direct.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        soap.query("SELECT Id FROM Account LIMIT 1")
    assert failure.value.code == "INVALID_LOGIN"
    response = info.http_session().get(f"{info.instance_url}/services/data/v59.0/limits",
                                       headers={"Authorization": f"Bearer {direct.session_id}"}, timeout=60)
    assert response.status_code == 401 and response.json()[0]["errorCode"] == "INVALID_SESSION_ID"

    # logins with the old secrets
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        info.salesforce("soap")
    assert failure.value.code == "INVALID_LOGIN"
    old_password = info.password + info.security_token
    assert _token_error(info, grant_type="password", client_id=info.client_id, client_secret=new.client_secret,
                        username=info.username, password=old_password) == (400, "invalid_grant")
    assert _token_error(info, grant_type="refresh_token", client_id=info.client_id,
                        client_secret=new.client_secret, refresh_token=refresh_token) == (400, "invalid_grant")
    assert _token_error(info, grant_type="client_credentials", client_id=info.client_id,
                        client_secret=info.client_secret) == (400, "invalid_client")

    # the new ones work with every login
    for login in ("soap", "oauth_password", "client_credentials", "direct"):
        assert new.salesforce(login).query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_credentials_needs_rotate_true(info: SandboxInfo) -> None:
    session = info.http_session()
    response = session.post(f"{info.admin_url}/credentials", json={}, timeout=60)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_ADMIN_REQUEST"
    assert load_sandbox_info(info.data_dir).password == info.password
    assert info.salesforce().query("SELECT COUNT() FROM Account")["totalSize"] > 0


# ----- restart ---------------------------------------------------------------------------------------

def test_a_restart_keeps_rotated_credentials_and_hidden_fields(tmp_path: Path) -> None:
    with running_sandbox(tmp_path) as first:
        sf = first.salesforce()
        lead_id = sf.Lead.create({"LastName": "Kept", "Company": "Restart Co", "Title": "Chief Restarter"})["id"]
        first.admin.hide_field("Lead", "Title")
        rotated = first.admin.rotate_credentials()
    with running_sandbox(tmp_path) as second:
        assert (second.password, second.security_token, second.client_secret) == (
            rotated.password, rotated.security_token, rotated.client_secret)
        before_rotation = dataclasses.replace(second, password=first.password,
                                              security_token=first.security_token)  # the new port
        with pytest.raises(SalesforceAuthenticationFailed):
            before_rotation.salesforce("soap")
        sf = second.salesforce("oauth_password")
        assert second.admin.hidden_fields() == [{"object": "Lead", "field": "Title"}]
        assert "Title" not in _field_names(sf, "Lead")
        assert _query_error(sf, "SELECT Title FROM Lead")["errorCode"] == "INVALID_FIELD"
        second.admin.restore_field("Lead", "Title")
        assert sf.Lead.get(lead_id)["Title"] == "Chief Restarter"
    with running_sandbox(tmp_path) as third:
        assert third.admin.hidden_fields() == []


def test_the_admin_client_without_a_sandbox_info_returns_the_answer(info: SandboxInfo) -> None:
    class Where:
        admin_url = info.admin_url
        ca_bundle = info.ca_bundle

    answer = SandboxAdmin(Where()).rotate_credentials()
    assert set(answer) == {"username", "password", "security_token", "client_id", "client_secret", "org_id"}
    assert load_sandbox_info(info.data_dir).password == answer["password"]
