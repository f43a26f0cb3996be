"""Config from env: flows, login URLs, and secrets kept out of str/repr/JSON/errors."""

from __future__ import annotations

import pickle

import pytest

from crm_sync.salesforce.config import SalesforceConfig
from crm_sync.salesforce.errors import (
    ApiLimitReached,
    BulkJobFailed,
    BulkJobTimeout,
    SalesforceApiError,
    SalesforceAuthError,
    SalesforceConfigError,
    SalesforceConnectionError,
    redact,
)
from crm_sync.salesforce.resource import SalesforceResource

SECRETS = {"password": "pa$$word-123", "security_token": "tok-ABCDEF", "client_id": "cid-4567",
           "client_secret": "csecret-890"}
ENV = {
    "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com/",
    "SALESFORCE_USERNAME": "integration@acme.com",
    "SALESFORCE_PASSWORD": SECRETS["password"],
    "SALESFORCE_SECURITY_TOKEN": SECRETS["security_token"],
    "SALESFORCE_CLIENT_ID": SECRETS["client_id"],
    "SALESFORCE_CLIENT_SECRET": SECRETS["client_secret"],
    "SALESFORCE_DOMAIN": "acme.my",
    "SALESFORCE_API_VERSION": "v60.0",
}


def _assert_hidden(text: str) -> None:
    for secret in SECRETS.values():
        assert secret not in text


def test_from_env_reads_every_variable() -> None:
    config = SalesforceConfig.from_env(ENV)
    assert config.instance_url == "https://acme.my.salesforce.com"
    assert config.username == "integration@acme.com"
    assert config.api_version == "60.0"
    assert config.plain_secret("password") == SECRETS["password"]
    assert sorted(config.secret_values()) == sorted(SECRETS.values())
    assert config.auth_flow == "oauth_password"
    assert config.login_url == "https://acme.my.salesforce.com"


def test_secrets_hidden_in_str_repr_and_dumps() -> None:
    config = SalesforceConfig.from_env(ENV)
    for text in (str(config), repr(config), config.model_dump_json(), str(config.model_dump())):
        _assert_hidden(text)
    assert "integration@acme.com" in repr(config)


def test_resource_repr_hides_secrets_and_builds_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in ENV.items():
        monkeypatch.setenv(var, value)
    resource = SalesforceResource(password="given-secret-1")
    _assert_hidden(repr(resource) + str(resource))
    assert "given-secret-1" not in repr(resource)
    config = resource.salesforce_config()
    assert config.plain_secret("password") == "given-secret-1"  # a given field wins over the env
    assert config.plain_secret("client_secret") == SECRETS["client_secret"]
    assert SalesforceResource().salesforce_config().plain_secret("password") == SECRETS["password"]


def test_auth_flow_choice_and_missing_credentials() -> None:
    soap = SalesforceConfig(username="u", password="p", security_token="t")
    assert soap.auth_flow == "soap"
    creds = SalesforceConfig(client_id="c", client_secret="s", domain="acme.my")
    assert creds.auth_flow == "client_credentials"
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_PASSWORD"):
        _ = SalesforceConfig(username="u").auth_flow


@pytest.mark.parametrize(
    ("domain", "instance", "expected"),
    [
        ("login", None, "https://login.salesforce.com"),
        ("test", None, "https://test.salesforce.com"),
        ("acme.my", None, "https://acme.my.salesforce.com"),
        ("127.0.0.1:8443", None, "https://127.0.0.1:8443"),
        ("127.0.0.1:8443/login", None, "https://127.0.0.1:8443/login.salesforce.com"),
        ("https://login.example.org/", None, "https://login.example.org"),
        (None, "https://127.0.0.1:9000", "https://127.0.0.1:9000"),
        (None, None, "https://login.salesforce.com"),
    ],
)
def test_login_url(domain: str | None, instance: str | None, expected: str) -> None:
    assert SalesforceConfig(domain=domain, instance_url=instance).login_url == expected


def test_bad_settings_are_named_without_values() -> None:
    with pytest.raises(SalesforceConfigError, match="api_version"):
        SalesforceConfig.from_env({**ENV, "SALESFORCE_API_VERSION": "latest"})


def test_errors_never_show_secrets() -> None:
    config = SalesforceConfig.from_env(ENV)
    message = redact(f"bad password {SECRETS['password']} and {SECRETS['security_token']}", config.secret_values())
    _assert_hidden(message)
    errors = [
        SalesforceApiError(400, "MALFORMED_QUERY", message, ["Name"], purpose="query"),
        ApiLimitReached(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        SalesforceAuthError("login refused: invalid_grant: authentication failure", error_code="invalid_grant"),
    ]
    for error in errors:
        _assert_hidden(str(error) + repr(error))
    assert "HTTP 400 MALFORMED_QUERY during query" in str(errors[0])
    assert "(fields: Name)" in str(errors[0])


def test_errors_survive_pickling() -> None:
    errors = [
        ApiLimitReached(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", purpose="count"),
        SalesforceApiError(400, "INVALID_FIELD", "No such column", ["Nope"], attempts=2),
        SalesforceAuthError("refused", error_code="INVALID_LOGIN", host="h:1"),
        SalesforceConnectionError("cannot reach h:1: Connection refused", host="h:1"),
        BulkJobFailed("750x", "Failed", "InvalidBatch"),
        BulkJobTimeout("750x", "InProgress", 60.0),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)
