"""Salesforce connection settings, read from SALESFORCE_* environment variables only.

Secrets (password, security token, client id and secret) are pydantic `SecretStr`: their str/repr
and JSON dumps show `**********`; the raw value is read only where a login request is built.

Login flows, chosen from what is set:
- OAuth password grant: client id + client secret + username + password (security token appended);
- OAuth client credentials: client id + client secret without a username;
- SOAP login: username + password (+ security token) without a client id/secret.

Where to log in (SALESFORCE_DOMAIN): `login` / `test` mean login.salesforce.com / test.salesforce.com,
a value ending in `.my` is a My Domain prefix (`acme.my` -> acme.my.salesforce.com), and so is one
with a slash (simple-salesforce's rule: `https://{domain}.salesforce.com`); anything else is a host
(optionally with port, or a full https:// URL). Unset: the instance URL, or login.salesforce.com.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from crm_sync.salesforce.errors import SalesforceConfigError

DEFAULT_API_VERSION = "59.0"

ENV_VARS: dict[str, str] = {
    "instance_url": "SALESFORCE_INSTANCE_URL",
    "username": "SALESFORCE_USERNAME",
    "password": "SALESFORCE_PASSWORD",
    "security_token": "SALESFORCE_SECURITY_TOKEN",
    "client_id": "SALESFORCE_CLIENT_ID",
    "client_secret": "SALESFORCE_CLIENT_SECRET",
    "domain": "SALESFORCE_DOMAIN",
    "ca_bundle": "SALESFORCE_CA_BUNDLE",
    "api_version": "SALESFORCE_API_VERSION",
}
SECRET_FIELDS = ("password", "security_token", "client_id", "client_secret")

AuthFlow = Literal["oauth_password", "client_credentials", "soap"]


def _plain(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class SalesforceConfig(BaseModel):
    """Everything needed to reach one org, plus retry and polling knobs (seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    domain: str | None = None
    ca_bundle: str | None = None
    api_version: str = DEFAULT_API_VERSION

    timeout_seconds: float = 120.0
    max_attempts: int = 5
    retry_base_delay: float = 0.5
    retry_max_delay: float = 30.0
    bulk_poll_interval: float = 0.2
    bulk_poll_max_interval: float = 10.0
    bulk_timeout_seconds: float = 3600.0

    @field_validator("instance_url", "domain")
    @classmethod
    def _strip_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        return value or None

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.strip().lstrip("vV")
        parts = value.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"SALESFORCE_API_VERSION must look like 59.0, got {value!r}")
        return value

    @field_validator("max_attempts")
    @classmethod
    def _attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError("max_attempts must be at least 1")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> SalesforceConfig:
        """The config from SALESFORCE_* variables (empty ones count as unset); `overrides` win."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field, var in ENV_VARS.items():
            raw = environ.get(var, "").strip()
            if raw:
                values[field] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValueError as exc:  # pydantic's message names the field, never a secret's value
            raise SalesforceConfigError(f"invalid Salesforce settings: {exc}") from None

    # --- derived -----------------------------------------------------------------------------

    @property
    def auth_flow(self) -> AuthFlow:
        """Which login this config allows; a clear error naming the missing variables otherwise."""
        has_app = self.client_id is not None and self.client_secret is not None
        if has_app and self.username and self.password is not None:
            return "oauth_password"
        if has_app and not self.username:
            return "client_credentials"
        if self.username and self.password is not None:
            return "soap"
        missing = []
        if not self.username:
            missing.append(ENV_VARS["username"])
        if self.password is None:
            missing.append(ENV_VARS["password"])
        raise SalesforceConfigError(
            "no usable Salesforce credentials: set SALESFORCE_USERNAME + SALESFORCE_PASSWORD (SOAP or, with "
            "SALESFORCE_CLIENT_ID + SALESFORCE_CLIENT_SECRET, OAuth password grant) or SALESFORCE_CLIENT_ID + "
            f"SALESFORCE_CLIENT_SECRET (client credentials); missing: {', '.join(missing)}"
        )

    @property
    def login_url(self) -> str:
        """The https base URL the login request goes to (see the module docstring)."""
        domain = self.domain
        if not domain:
            return self.instance_url_checked if self.instance_url else "https://login.salesforce.com"
        if domain.startswith(("https://", "http://")):
            return domain
        if domain in ("login", "test") or domain.endswith(".my") or "/" in domain:
            return f"https://{domain}.salesforce.com"  # simple-salesforce's rule for such domains
        return f"https://{domain}"

    @property
    def instance_url_checked(self) -> str:
        """The instance URL with a scheme (https:// assumed when missing)."""
        if not self.instance_url:
            raise SalesforceConfigError("SALESFORCE_INSTANCE_URL is not set")
        url = self.instance_url if "://" in self.instance_url else f"https://{self.instance_url}"
        if not urlparse(url).hostname:
            raise SalesforceConfigError(f"SALESFORCE_INSTANCE_URL is not a URL: {self.instance_url!r}")
        return url

    @property
    def host(self) -> str:
        """The login host, for error messages."""
        return urlparse(self.login_url).netloc or self.login_url

    def secret_values(self) -> list[str]:
        """The raw secret values, so error texts can be scrubbed of them (never print this)."""
        return [v for v in (_plain(getattr(self, name)) for name in SECRET_FIELDS) if v]

    def plain_secret(self, name: str) -> str | None:
        """One raw secret value, for building a login request."""
        if name not in SECRET_FIELDS:
            raise KeyError(name)
        return _plain(getattr(self, name))
