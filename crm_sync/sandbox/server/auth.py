"""Authentication: generated credentials, bearer sessions, SOAP partner `login` and the OAuth token endpoint.

Credentials (username of the integration user, password, security token, connected-app client id and
secret) are generated at the first start and kept in `DATA_DIR/credentials.json` (mode 0600), so a
restart keeps them; `Credentials.rotated()` makes new secrets (see Org.rotate_credentials). Sessions
live in memory and expire a fixed time after they were issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import string
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from crm_sync.sandbox import ids
from crm_sync.sandbox.server.faults import invalid_session
from crm_sync.sandbox.server.responses import XML_TYPE, json_response, oauth_error, soap_fault
from crm_sync.sandbox.server.versions import version_error

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

_ALNUM = string.ascii_letters + string.digits
PARTNER_NS = "urn:partner.soap.sforce.com"
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
MAX_REFRESH_TOKENS = 10_000


def _random_text(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class Credentials:
    """The secrets a client needs to log in to the sandbox (never logged)."""

    password: str
    security_token: str
    client_id: str
    client_secret: str
    org_id: str

    @classmethod
    def generate(cls) -> Credentials:
        org_id = ids.to_18("00D" + "8a" + _random_text(10))
        return cls(
            password=_random_text(20),
            security_token=_random_text(25),
            client_id="3MVG9" + _random_text(80, _ALNUM + "._"),
            client_secret=secrets.token_hex(32).upper(),
            org_id=org_id,
        )

    def rotated(self) -> Credentials:
        """New password, security token and client secret; the client id and org id stay."""
        fresh = Credentials.generate()
        return replace(self, password=fresh.password, security_token=fresh.security_token,
                       client_secret=fresh.client_secret)

    def save(self, path: Path) -> None:
        """Write the credentials file atomically (tmp + rename), readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        """Read the credentials file, or generate and write one (mode 0600) when there is none."""
        if path.exists():
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        credentials = cls.generate()
        credentials.save(path)
        return credentials


@dataclass
class Session:
    token: str
    user_id: str
    expires_at: float


class Sessions:
    """Bearer sessions and refresh tokens (thread-safe). Lifetime is read from `ttl()` at issue time."""

    def __init__(self, org_id: str, ttl: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self._org_id = org_id
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._refresh: dict[str, str] = {}

    def issue(self, user_id: str) -> Session:
        token = f"{self._org_id[:15]}!{secrets.token_urlsafe(72)}"
        session = Session(token=token, user_id=user_id, expires_at=self._clock() + self._ttl())
        with self._lock:
            now = self._clock()
            self._sessions = {t: s for t, s in self._sessions.items() if s.expires_at > now}
            self._sessions[token] = session
        return session

    def get(self, token: str) -> Session | None:
        """The live session for this bearer token, or None (unknown or expired)."""
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at <= self._clock():
                del self._sessions[token]
                return None
            return session

    def expire_all(self) -> int:
        """Invalidate every current session (refresh tokens stay valid); returns how many."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    def revoke_all(self) -> int:
        """Invalidate every session and every refresh token (a credentials rotation); returns how many sessions."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            self._refresh.clear()
            return count

    def issue_refresh_token(self, user_id: str) -> str:
        """A new refresh token (the oldest ones are revoked once MAX_REFRESH_TOKENS exist)."""
        token = f"5Aep861{secrets.token_urlsafe(60)}"
        with self._lock:
            self._refresh[token] = user_id
            while len(self._refresh) > MAX_REFRESH_TOKENS:
                del self._refresh[next(iter(self._refresh))]
        return token

    def redeem_refresh_token(self, token: str) -> str | None:
        with self._lock:
            return self._refresh.get(token)

    def __len__(self) -> int:
        return len(self._sessions)


def authenticate(org: Org, request: Request) -> Session:
    """The session of an API request's `Authorization: Bearer` (or OAuth) header, else INVALID_SESSION_ID."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token.strip():
        raise invalid_session()
    session = org.sessions.get(token.strip())
    if session is None:
        raise invalid_session()
    return session


def instance_url(request: Request) -> str:
    """The base URL clients reach this server at, from the request's Host."""
    return f"https://{request.url.netloc}"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _check_password(org: Org, username: str, password: str) -> str | None:
    """The integration user's Id when username and password (+ security token) are right."""
    user = org.login_user()
    expected = org.credentials.password + org.credentials.security_token
    if username.strip().lower() == str(user["Username"]).lower() and _same(password, expected):
        return str(user["Id"])
    return None


def _soap_text(root: ElementTree.Element, name: str) -> str | None:
    for element in root.iter():
        if element.tag == name or element.tag.endswith("}" + name):
            return element.text or ""
    return None


async def soap_login(request: Request) -> Response:
    """POST /services/Soap/u/{version}: the partner API `login` call (loginResponse or a SOAP fault)."""
    org: Org = request.app.state.org
    version = request.path_params["version"]
    if version_error(version, prefix="") is not None:  # SOAP answers any version it does not serve so
        return soap_fault("UNSUPPORTED_API_VERSION", f"Invalid Api version specified on URL: {version}", 500)
    body = await request.body()
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return soap_fault("INVALID_XML", "the request body is not well-formed XML", 500)
    username = _soap_text(root, "username")
    password = _soap_text(root, "password")
    if username is None or password is None:
        return soap_fault("UNSUPPORTED_API_METHOD",
                          "only the partner API login call is supported by the crm_sync sandbox", 500)
    user_id = _check_password(org, username, password)
    if user_id is None:
        return soap_fault("INVALID_LOGIN", INVALID_LOGIN, 500)
    org.usage.record()  # a SOAP login() is an API call; the OAuth token endpoint is not
    session = org.sessions.issue(user_id)
    user = org.login_user()
    base = instance_url(request)
    org_id = org.credentials.org_id
    ttl = int(org.faults.config.session_ttl_s)
    fields = {
        "metadataServerUrl": f"{base}/services/Soap/m/{version}/{org_id[:15]}",
        "passwordExpired": "false",
        "sandbox": "true",
        "serverUrl": f"{base}/services/Soap/u/{version}/{org_id[:15]}",
        "sessionId": session.token,
        "userId": user_id,
    }
    user_info = {
        "accessibilityMode": "false",
        "currencySymbol": "$",
        "orgAttachmentFileSizeLimit": "5242880",
        "orgDefaultCurrencyIsoCode": "USD",
        "orgDisallowHtmlAttachments": "false",
        "orgHasPersonAccounts": "false",
        "organizationId": org_id,
        "organizationMultiCurrency": "false",
        "organizationName": "crm_sync sandbox",
        "profileId": "00e8a0000000001AAA",
        "roleId": "",
        "sessionSecondsValid": str(ttl),
        "userDefaultCurrencyIsoCode": "",
        "userEmail": str(user.get("Email") or ""),
        "userFullName": str(user.get("Name") or user["Username"]),
        "userId": user_id,
        "userLanguage": "en_US",
        "userLocale": "en_US",
        "userName": str(user["Username"]),
        "userTimeZone": str(user.get("TimeZoneSidKey") or "GMT"),
        "userType": "Standard",
        "userUiSkin": "Theme3",
    }
    result = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    result += "<userInfo>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in user_info.items()) + "</userInfo>"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        f' xmlns="{PARTNER_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><loginResponse><result>{result}</result></loginResponse></soapenv:Body>"
        "</soapenv:Envelope>"
    )
    return Response(xml.encode("utf-8"), media_type=XML_TYPE)


def _signature(secret: str, identity_url: str, issued_at: str) -> str:
    digest = hmac.new(secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _client_from_request(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None, None
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return form.get("client_id"), form.get("client_secret")


async def oauth_token(request: Request) -> Response:
    """POST /services/oauth2/token: grant types password, client_credentials and refresh_token.

    No grant here issues a refresh token, as in Salesforce (the password and client-credentials flows
    never do; the flows that do, web server and user agent, need a browser). Tests mint one with the
    admin surface (`SandboxAdmin.mint_refresh_token`), then redeem it with the refresh_token grant.
    """
    org: Org = request.app.state.org
    body = await request.body()
    try:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        return oauth_error("invalid_request", "the request body is not form-encoded UTF-8")
    grant = form.get("grant_type", "")
    if grant not in ("password", "client_credentials", "refresh_token"):
        return oauth_error("unsupported_grant_type", "grant type not supported")
    client_id, client_secret = _client_from_request(request, form)
    credentials = org.credentials
    if not client_id or not _same(client_id, credentials.client_id):
        return oauth_error("invalid_client_id", "client identifier invalid")
    # The password and refresh flows accept a missing secret only for refresh (as a public client may).
    if client_secret is None and grant != "refresh_token":
        return oauth_error("invalid_client", "invalid client credentials")
    if client_secret is not None and not _same(client_secret, credentials.client_secret):
        return oauth_error("invalid_client", "invalid client credentials")

    if grant == "password":
        user_id = _check_password(org, form.get("username", ""), form.get("password", ""))
        if user_id is None:
            return oauth_error("invalid_grant", "authentication failure")
        # Salesforce issues no refresh token in the username-password flow (nor client credentials)
    elif grant == "client_credentials":
        user_id = str(org.login_user()["Id"])
    else:
        user_id = org.sessions.redeem_refresh_token(form.get("refresh_token", ""))
        if user_id is None:
            return oauth_error("invalid_grant", "expired access/refresh token")

    session = org.sessions.issue(user_id)
    base = instance_url(request)
    identity_url = f"{base}/id/{credentials.org_id}/{user_id}"
    issued_at = str(int(time.time() * 1000))
    answer = {
        "access_token": session.token,
        "instance_url": base,
        "id": identity_url,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": _signature(credentials.client_secret, identity_url, issued_at),
        "scope": "api refresh_token" if grant == "refresh_token" else "api",
    }
    return json_response(answer)
