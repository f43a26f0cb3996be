"""Failures against the sandbox: retries, re-login, the daily limit, and clear connection/auth errors."""

from __future__ import annotations

import socket

import pytest

from crm_sync.salesforce import (
    ApiLimitReached,
    SalesforceApiError,
    SalesforceAuthError,
    SalesforceClient,
    SalesforceConnectionError,
)
from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo

from .conftest import ClientFactory


def _secrets(info: SandboxInfo) -> list[str]:
    return [info.password, info.security_token, info.client_secret]


@pytest.mark.parametrize(
    ("drop", "flow"),
    [
        (("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"), "soap"),
        ((), "oauth_password"),
        (("SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN"), "client_credentials"),
    ],
)
def test_every_login_flow_works(make_client: ClientFactory, sf_admin: SandboxAdmin, drop: tuple, flow: str) -> None:
    fresh = make_client(drop=drop)
    assert fresh.config.auth_flow == flow
    assert fresh.count("Account") == sf_admin.counts()["Account"]


def test_503_is_retried_and_each_attempt_counted(client: SalesforceClient, sf_admin: SandboxAdmin) -> None:
    expected = client.count("Account")
    sf_admin.add_fault("/query", "503", count=2)
    before = client.api_calls.snapshot()
    assert client.count("Account") == expected
    assert (client.api_calls.snapshot() - before).by_purpose == {"count": 3}
    assert sf_admin.faults()["injected"]["503"] == 2


def test_unable_to_lock_row_is_retried(client: SalesforceClient, sf_admin: SandboxAdmin) -> None:
    sf_admin.add_fault("/query", "lock", count=1)
    before = client.api_calls.total
    client.count("Contact")
    assert client.api_calls.total == before + 2


def test_retries_are_bounded(client: SalesforceClient, sf_admin: SandboxAdmin) -> None:
    sf_admin.add_fault("/query", "500", count=10)
    before = client.api_calls.total
    with pytest.raises(SalesforceApiError) as failure:
        client.count("Account")
    assert failure.value.status == 500 and failure.value.error_code == "UNKNOWN_EXCEPTION"
    assert failure.value.attempts == client.config.max_attempts
    assert client.api_calls.total == before + client.config.max_attempts


def test_relogin_after_sessions_expire(make_client: ClientFactory, sf_admin: SandboxAdmin) -> None:
    fresh = make_client()
    fresh.count("Account")
    assert sf_admin.expire_sessions() >= 1
    assert fresh.count("Account") > 0
    assert fresh.api_calls.logins == 2
    sf_admin.add_fault("/query", "expire", count=1)  # INVALID_SESSION_ID on one request
    assert fresh.count("Account") > 0
    assert fresh.api_calls.logins == 3


def test_limit_reached_stops_at_once(make_client: ClientFactory, sf_admin: SandboxAdmin) -> None:
    fresh = make_client()
    fresh.login()
    used = sf_admin.api_usage()["used"]
    sf_admin.set_limits(daily_api_requests=used + 2)
    fresh.count("Account")
    fresh.count("Account")
    with pytest.raises(ApiLimitReached) as stop:
        fresh.count("Account")
    assert stop.value.error_code == "REQUEST_LIMIT_EXCEEDED" and stop.value.attempts == 1
    assert fresh.api_calls.total == 3  # no retries
    assert fresh.api_usage() == (used + 2, used + 2)


def test_wrong_credentials_name_the_cause(make_client: ClientFactory, sf_sandbox: SandboxInfo) -> None:
    soap = make_client(drop=("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"),
                       env={"SALESFORCE_PASSWORD": "wrong-password-1"})
    with pytest.raises(SalesforceAuthError) as refused:
        soap.count("Account")
    assert "INVALID_LOGIN" in str(refused.value) and sf_sandbox.host in str(refused.value)
    oauth = make_client(env={"SALESFORCE_CLIENT_SECRET": "not-the-secret"})
    with pytest.raises(SalesforceAuthError, match="invalid_client") as bad_app:
        oauth.count("Account")
    for error in (refused.value, bad_app.value):
        text = str(error) + repr(error) + repr(error.__cause__) + repr(error.__context__)
        assert not any(secret in text for secret in _secrets(sf_sandbox) + ["wrong-password-1", "not-the-secret"])


def test_unreachable_instance_names_host_and_cause(make_client: ClientFactory, sf_sandbox: SandboxInfo) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    host = f"127.0.0.1:{port}"
    lost = make_client(env={"SALESFORCE_INSTANCE_URL": f"https://{host}", "SALESFORCE_DOMAIN": host})
    with pytest.raises(SalesforceConnectionError) as unreachable:
        lost.count("Account")
    assert host in str(unreachable.value) and "refused" in str(unreachable.value).lower()
    assert lost.api_calls.logins == lost.config.max_attempts
    assert not any(secret in str(unreachable.value) for secret in _secrets(sf_sandbox))


def test_untrusted_certificate_is_a_clear_error(make_client: ClientFactory) -> None:
    untrusting = make_client(drop=("SALESFORCE_CA_BUNDLE",))
    with pytest.raises(SalesforceConnectionError, match="SALESFORCE_CA_BUNDLE"):
        untrusting.count("Account")


def test_malformed_query_is_an_api_error(client: SalesforceClient) -> None:
    with pytest.raises(SalesforceApiError) as failure:
        list(client.query_records("SELECT Id FROM Account WHERE Nope = 1"))
    assert failure.value.status == 400 and failure.value.attempts == 1
    assert failure.value.error_code in {"INVALID_FIELD", "MALFORMED_QUERY"}
