"""Login requests: OAuth 2.0 token (password grant, client credentials) and SOAP `login`.

Each function sends one request on the given session and returns (access token, instance URL),
or raises: `SalesforceAuthError` when Salesforce refused the credentials, `LoginUnavailable` for a
5xx answer (the caller may retry). Error texts hold Salesforce's error code and description only.
"""

from __future__ import annotations

import base64
from html import escape
from typing import NamedTuple
from urllib.parse import urlparse
from xml.parsers.expat import ExpatError

import requests
from simple_salesforce.util import getUniqueElementValueFromXmlString

from crm_sync.salesforce.config import SalesforceConfig
from crm_sync.salesforce.errors import SalesforceAuthError, SalesforceError

_SOAP_BODY = """<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:urn="urn:partner.soap.sforce.com">
  <env:Header><urn:CallOptions><urn:client>crm_sync</urn:client></urn:CallOptions></env:Header>
  <env:Body>
    <n1:login xmlns:n1="urn:partner.soap.sforce.com">
      <n1:username>{username}</n1:username>
      <n1:password>{password}</n1:password>
    </n1:login>
  </env:Body>
</env:Envelope>"""


class LoginUnavailable(SalesforceError):
    """The login endpoint answered 5xx: worth retrying."""

    def __init__(self, status: int) -> None:
        super().__init__(f"login endpoint answered HTTP {status}")
        self.status = status


class LoginResult(NamedTuple):
    """What a login gives: the session (access token), where the org lives, and who we are there."""

    token: str
    instance: str
    user_id: str | None


def login(config: SalesforceConfig, session: requests.Session) -> LoginResult:
    """Log in with the flow `config` allows; the token, instance base URL https://host[:port] and user Id."""
    flow = config.auth_flow
    if flow == "soap":
        return _soap_login(config, session)
    return _oauth_login(config, session, flow)


def _verify(config: SalesforceConfig) -> str | bool:
    """Given per request: a session's `verify` loses to REQUESTS_CA_BUNDLE in the environment."""
    return config.ca_bundle or True


def _password_with_token(config: SalesforceConfig) -> str:
    return (config.plain_secret("password") or "") + (config.plain_secret("security_token") or "")


def _oauth_login(config: SalesforceConfig, session: requests.Session, flow: str) -> LoginResult:
    url = f"{config.login_url}/services/oauth2/token"
    client_id = config.plain_secret("client_id") or ""
    client_secret = config.plain_secret("client_secret") or ""
    headers = {"Accept": "application/json"}
    if flow == "oauth_password":
        data = {"grant_type": "password", "client_id": client_id, "client_secret": client_secret,
                "username": config.username or "", "password": _password_with_token(config)}
    else:
        data = {"grant_type": "client_credentials"}
        pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    response = session.post(url, data=data, headers=headers, timeout=config.timeout_seconds,
                            verify=_verify(config))
    if response.status_code >= 500:
        raise LoginUnavailable(response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not body.get("access_token"):
        code = body.get("error") or f"HTTP_{response.status_code}"
        description = body.get("error_description") or "no description"
        raise SalesforceAuthError(
            f"Salesforce login ({flow}) at {config.host} was refused: {code}: {description}",
            error_code=code, host=config.host,
        )
    instance = body.get("instance_url") or config.instance_url_checked
    identity = str(body.get("id") or "")  # https://login.salesforce.com/id/<org id>/<user id>
    return LoginResult(body["access_token"], _base(instance), identity.rstrip("/").rsplit("/", 1)[-1] or None)


def _soap_login(config: SalesforceConfig, session: requests.Session) -> LoginResult:
    url = f"{config.login_url}/services/Soap/u/{config.api_version}"
    body = _SOAP_BODY.format(username=escape(config.username or ""),
                             password=escape(_password_with_token(config)))
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"}
    response = session.post(url, data=body.encode("utf-8"), headers=headers, timeout=config.timeout_seconds,
                            verify=_verify(config))
    if response.status_code >= 500 and b"Fault" not in response.content:
        raise LoginUnavailable(response.status_code)
    try:
        session_id = getUniqueElementValueFromXmlString(response.content, "sessionId")
        server_url = getUniqueElementValueFromXmlString(response.content, "serverUrl")
        user_id = getUniqueElementValueFromXmlString(response.content, "userId")
        code = (getUniqueElementValueFromXmlString(response.content, "sf:exceptionCode")
                or getUniqueElementValueFromXmlString(response.content, "faultcode"))
        message = (getUniqueElementValueFromXmlString(response.content, "sf:exceptionMessage")
                   or getUniqueElementValueFromXmlString(response.content, "faultstring"))
    except ExpatError:
        session_id = server_url = user_id = None
        code, message = f"HTTP_{response.status_code}", "the answer was not XML"
    if response.status_code != 200 or not session_id or not server_url:
        code = code or f"HTTP_{response.status_code}"
        raise SalesforceAuthError(
            f"Salesforce login (soap) at {config.host} was refused: {code}: {message or 'no message'}",
            error_code=code, host=config.host,
        )
    return LoginResult(session_id, _base(server_url), user_id or None)


def _base(url: str) -> str:
    """https://host[:port] of a URL (instance_url or SOAP serverUrl)."""
    parsed = urlparse(url if "://" in url else f"https://{url}")
    netloc = parsed.netloc
    if netloc.endswith(".salesforce.com"):  # SOAP serverUrl may name the -api host
        netloc = netloc.replace("-api.", ".")
    return f"{parsed.scheme or 'https'}://{netloc}"
