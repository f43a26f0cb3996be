"""Logins with unmodified simple-salesforce (SOAP, OAuth password, client credentials), refresh, expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from crm_sync.sandbox.process import SandboxInfo, running_sandbox


def test_soap_login_gives_a_working_client(sandbox: SandboxInfo) -> None:
    sf = Salesforce(username=sandbox.username, password=sandbox.password, security_token=sandbox.security_token,
                    domain=sandbox.login_domain, session=sandbox.http_session())
    assert sf.sf_instance == sandbox.host
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_oauth_password_login(sandbox: SandboxInfo) -> None:
    sf = Salesforce(username=sandbox.username, password=sandbox.password + sandbox.security_token,
                    consumer_key=sandbox.client_id, consumer_secret=sandbox.client_secret,
                    domain=sandbox.login_domain, session=sandbox.http_session())
    assert sf.Account.describe()["name"] == "Account"


def test_client_credentials_login(sandbox: SandboxInfo) -> None:
    sf = Salesforce(consumer_key=sandbox.client_id, consumer_secret=sandbox.client_secret,
                    domain=sandbox.login_domain, session=sandbox.http_session())
    assert {o["name"] for o in sf.describe()["sobjects"]} >= {"Account", "Contact", "License__c"}


def test_direct_session_with_instance_url(sandbox: SandboxInfo) -> None:
    token = sandbox.oauth_token("client_credentials")
    assert token["instance_url"] == sandbox.instance_url
    assert token["token_type"] == "Bearer" and token["id"].startswith(sandbox.instance_url + "/id/")
    sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                    session=sandbox.http_session())
    assert sf.limits()["DailyApiRequests"]["Max"] > 0


def test_password_and_client_credentials_grants_issue_no_refresh_token(sandbox: SandboxInfo) -> None:
    for grant in ("password", "client_credentials"):
        answer = sandbox.oauth_token(grant)
        assert answer["access_token"] and "refresh_token" not in answer, grant
        assert "refresh_token" not in answer["scope"].split()


def test_refresh_token_grant_with_a_minted_token(sandbox: SandboxInfo) -> None:
    refresh_token = sandbox.admin.mint_refresh_token()
    first = sandbox.oauth_token("refresh_token", refresh_token=refresh_token)
    again = sandbox.oauth_token("refresh_token", refresh_token=refresh_token)
    assert first["access_token"] != again["access_token"]
    assert "refresh_token" not in first and first["instance_url"] == sandbox.instance_url
    sf = Salesforce(instance_url=first["instance_url"], session_id=first["access_token"],
                    session=sandbox.http_session())
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_minted_refresh_token_acts_as_its_user(sandbox: SandboxInfo, sf) -> None:
    other = sf.query("SELECT Username FROM User WHERE IsActive = true AND Username != "
                     f"'{sandbox.username}' LIMIT 1")["records"][0]["Username"]
    answer = sandbox.oauth_token("refresh_token", refresh_token=sandbox.admin.mint_refresh_token(as_user=other))
    user_id = answer["id"].rsplit("/", 1)[1]
    assert sf.query(f"SELECT Username FROM User WHERE Id = '{user_id}'")["records"][0]["Username"] == other


def test_a_public_client_refreshes_without_its_secret(sandbox: SandboxInfo) -> None:
    data = {"grant_type": "refresh_token", "client_id": sandbox.client_id,
            "refresh_token": sandbox.admin.mint_refresh_token()}
    answer = sandbox.http_session().post(f"{sandbox.instance_url}/services/oauth2/token", data=data, timeout=60)
    assert answer.status_code == 200 and answer.json()["access_token"]


def test_bad_soap_credentials_are_invalid_login(sandbox: SandboxInfo) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(username=sandbox.username, password="wrong", security_token=sandbox.security_token,
                   domain=sandbox.login_domain, session=sandbox.http_session())
    assert failure.value.code == "INVALID_LOGIN"


def test_password_without_token_is_refused(sandbox: SandboxInfo) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(username=sandbox.username, password=sandbox.password, consumer_key=sandbox.client_id,
                   consumer_secret=sandbox.client_secret, domain=sandbox.login_domain,
                   session=sandbox.http_session())
    assert failure.value.code == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "client_id": "nope", "client_secret": "x", "username": "u", "password": "p"},
         "invalid_client_id"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "not-a-token"}, "invalid_grant"),
    ],
)
def test_oauth_errors(sandbox: SandboxInfo, form: dict, error: str) -> None:
    data = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret, **form}
    response = sandbox.http_session().post(f"{sandbox.instance_url}/services/oauth2/token", data=data)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_unknown_bearer_token_is_invalid_session(sandbox: SandboxInfo) -> None:
    response = sandbox.http_session().get(f"{sandbox.instance_url}/services/data/v59.0/limits",
                                          headers={"Authorization": "Bearer 00D000000000000!nope"})
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[SandboxInfo]:
    """A sandbox of this test's own: expiring every session must not log out the shared one's clients."""
    with running_sandbox(tmp_path, records=20, seed=5) as info:
        yield info


def test_expired_sessions_raise_and_a_new_login_works(own_sandbox: SandboxInfo) -> None:
    sandbox = own_sandbox
    token = sandbox.oauth_token("client_credentials")["access_token"]
    direct = Salesforce(instance_url=sandbox.instance_url, session_id=token, session=sandbox.http_session())
    with_login = sandbox.salesforce("soap")
    direct.query("SELECT Id FROM Account LIMIT 1")
    assert sandbox.admin.expire_sessions() == 2
    with pytest.raises(SalesforceExpiredSession):
        direct.query("SELECT Id FROM Account LIMIT 1")
    # a client that logged in with credentials logs in again by itself on INVALID_SESSION_ID
    old_session = with_login.session_id
    assert with_login.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    assert with_login.session_id != old_session


def test_session_ttl_expires_sessions(sandbox: SandboxInfo, clean_org_state: None) -> None:
    sandbox.admin.set_faults(session_ttl_s=0.2)
    token = sandbox.oauth_token("client_credentials")["access_token"]
    direct = Salesforce(instance_url=sandbox.instance_url, session_id=token, session=sandbox.http_session())
    sandbox.admin.set_faults(session_ttl_s=7200)
    time.sleep(0.3)
    with pytest.raises(SalesforceExpiredSession):
        direct.limits()


def test_login_urls_without_the_alias_segment(sandbox: SandboxInfo) -> None:
    """crm_sync's own client posts to https://HOST/services/oauth2/token directly."""
    session = sandbox.http_session()
    data = {"grant_type": "client_credentials"}
    answer = session.post(f"{sandbox.instance_url}/services/oauth2/token", data=data,
                          auth=requests.auth.HTTPBasicAuth(sandbox.client_id, sandbox.client_secret))
    assert answer.status_code == 200 and answer.json()["access_token"]
