"""The one place every HTTP request to Salesforce goes through.

`Transport.request` counts the call (`ApiCallCounter`), retries transient failures with backoff
(5xx, UNABLE_TO_LOCK_ROW, connection errors), logs in again once on an expired session, raises
`OutcomeUnknown` instead of retrying a request that is not idempotent (a POST that creates) once it may
have reached Salesforce (a read timeout or a connection dropped after sending), raises
`ApiLimitReached` at once on REQUEST_LIMIT_EXCEEDED, remembers the last `Sforce-Limit-Info`, and
turns every other failure into `SalesforceApiError`. The simple-salesforce `Salesforce` object holds
the session, headers and base URLs; no secret ever reaches an exception text.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests
from simple_salesforce import Salesforce
from urllib3.exceptions import NameResolutionError, NewConnectionError

from crm_sync.salesforce import auth
from crm_sync.salesforce.accounting import ApiCallCounter
from crm_sync.salesforce.config import SalesforceConfig
from crm_sync.salesforce.errors import (
    ApiLimitReached,
    OutcomeUnknown,
    SalesforceApiError,
    SalesforceAuthError,
    SalesforceConfigError,
    SalesforceConnectionError,
    redact,
)
from crm_sync.salesforce.limits import ApiUsage, parse_limit_info
from crm_sync.salesforce.retry import Decision, RetryPolicy, classify

log = logging.getLogger(__name__)

_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def error_entries(response: requests.Response) -> list[dict]:
    """Salesforce's error entries from a failed response: [{"errorCode", "message", "fields"}]."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:300] or response.reason or ""
        return [{"errorCode": f"HTTP_{response.status_code}", "message": text, "fields": []}]
    entries: list[dict] = []
    items = body if isinstance(body, list) else [body]
    for item in items:
        if not isinstance(item, dict):
            continue
        if "errorCode" in item:
            entries.append({"errorCode": str(item["errorCode"]), "message": str(item.get("message", "")),
                            "fields": list(item.get("fields") or [])})
        elif "error" in item:  # OAuth shape
            entries.append({"errorCode": str(item["error"]), "message": str(item.get("error_description", "")),
                            "fields": []})
    return entries or [{"errorCode": f"HTTP_{response.status_code}", "message": str(body)[:300], "fields": []}]


def may_have_been_sent(exc: Exception) -> bool:
    """False only when the connection was never made (refused, DNS, connect timeout): nothing was sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.ChunkedEncodingError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, NewConnectionError | NameResolutionError):
            return False
    return True


def _reason(exc: Exception) -> str:
    match = _ERRNO_RE.search(str(exc))
    if match:
        return match.group(1).strip()
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


class Transport:
    """Logged-in HTTP access to one org, with counting, retries and re-login."""

    def __init__(
        self,
        config: SalesforceConfig,
        *,
        counter: ApiCallCounter | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.counter = counter or ApiCallCounter()
        self.policy = RetryPolicy(config.max_attempts, config.retry_base_delay, config.retry_max_delay)
        self.session = session or requests.Session()
        if config.ca_bundle:
            if not os.path.isfile(config.ca_bundle):
                raise SalesforceConfigError(f"SALESFORCE_CA_BUNDLE {config.ca_bundle} is not a readable file")
            self.session.verify = config.ca_bundle
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sf: Salesforce | None = None
        self._login_lock = threading.Lock()
        self.last_usage: ApiUsage | None = None
        self.user_id: str | None = None  # the logged-in user's Id, known after the first login

    # --- session -------------------------------------------------------------------------------

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce object of the current session (logging in first if needed)."""
        if self._sf is None:
            self.login()
        assert self._sf is not None
        return self._sf

    def login(self) -> None:
        """Log in (again); connection errors and 5xx answers are retried like any request."""
        with self._login_lock:
            attempt = 0
            while True:
                attempt += 1
                self.counter.record_login()
                try:
                    token, instance, self.user_id = auth.login(self.config, self.session)
                    break
                except requests.exceptions.SSLError as exc:
                    raise self._tls_error(exc) from None
                except (requests.ConnectionError, requests.Timeout) as exc:
                    if not self.policy.can_retry(attempt):
                        raise self._connection_error(exc, attempt, self.config.host) from None
                except auth.LoginUnavailable as exc:
                    if not self.policy.can_retry(attempt):
                        raise SalesforceAuthError(
                            f"Salesforce login at {self.config.host} unavailable after {attempt} attempts: {exc}",
                            error_code=f"HTTP_{exc.status}", host=self.config.host,
                        ) from None
                except SalesforceAuthError as exc:
                    raise SalesforceAuthError(redact(str(exc), self.config.secret_values()),
                                              error_code=exc.error_code, host=exc.host) from None
                self._sleep(self.policy.delay(attempt, self._rng))
            self._sf = Salesforce(instance_url=instance, session_id=token, session=self.session,
                                  version=self.config.api_version)

    @property
    def instance_url(self) -> str:
        """https://host[:port] of the logged-in instance."""
        return f"https://{self.sf.sf_instance}"

    def url(self, path: str) -> str:
        """Absolute URL: full URLs pass, `/services/...` joins the instance, anything else the data API base."""
        if path.startswith(("https://", "http://")):
            return path
        if path.startswith("/"):
            return urljoin(self.instance_url, path)
        return self.sf.base_url + path

    @property
    def data_path(self) -> str:
        """`/services/data/vXX.X` of this API version (for composite sub-request URLs)."""
        return f"/services/data/v{self.config.api_version}"

    # --- requests -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        purpose: str,
        obj: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one logical request (with its retries); the response of status < 300, or raise.

        `idempotent` (default: every method but POST) says whether sending the request twice is safe; a
        request that is not is retried only when it certainly never left (a refused or timed-out connect).
        `stream`: the body is read as the caller iterates it (the caller closes the response).
        """
        idempotent = method.upper() != "POST" if idempotent is None else idempotent
        attempt = 0
        relogged = False
        while True:
            attempt += 1
            sf = self.sf
            merged = dict(sf.headers)
            merged.pop("X-PrettyPrint", None)
            merged.update(headers or {})
            url = self.url(path)
            self.counter.record(purpose, obj)
            try:
                response = self.session.request(method, url, params=params, json=json, data=data,
                                                headers=merged, timeout=self.config.timeout_seconds,
                                                verify=self.config.ca_bundle or True, stream=stream)
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(exc) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not idempotent and may_have_been_sent(exc):
                    raise OutcomeUnknown(
                        f"salesforce {purpose}: {_reason(exc)} after the request was sent; not sent again "
                        "(it is not idempotent): its outcome is unknown", host=sf.sf_instance) from None
                if not self.policy.can_retry(attempt):
                    raise self._connection_error(exc, attempt, sf.sf_instance) from None
                log.info("salesforce %s: %s, retrying (attempt %d)", purpose, _reason(exc), attempt)
                self._sleep(self.policy.delay(attempt, self._rng))
                continue
            usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
            if usage is not None:
                self.last_usage = usage
            if response.status_code < 300:
                return response
            entries = error_entries(response)
            decision = classify(response.status_code, [e["errorCode"] for e in entries])
            if decision is Decision.OK:
                return response
            if decision is Decision.LIMIT:
                raise self._api_error(ApiLimitReached, response, entries, purpose, attempt)
            if decision is Decision.RELOGIN and not relogged:
                log.info("salesforce session expired during %s: logging in again", purpose)
                relogged = True
                attempt -= 1  # the re-login retry does not use up an attempt
                self.login()
                continue
            if decision is Decision.RELOGIN:
                raise SalesforceAuthError(
                    f"session still invalid after logging in again at {self.config.host} "
                    f"({entries[0]['errorCode']}: {entries[0]['message']})",
                    error_code=entries[0]["errorCode"], host=self.config.host,
                )
            if decision is Decision.RETRY and self.policy.can_retry(attempt):
                log.info("salesforce %s: HTTP %s %s, retrying (attempt %d)", purpose,
                         response.status_code, entries[0]["errorCode"], attempt)
                self._sleep(self.policy.delay(attempt, self._rng))
                continue
            raise self._api_error(SalesforceApiError, response, entries, purpose, attempt)

    def _api_error(self, cls: type[SalesforceApiError], response: requests.Response, entries: list[dict],
                   purpose: str, attempt: int) -> SalesforceApiError:
        secrets = [*self.config.secret_values(), self._sf.session_id if self._sf else None]
        first = entries[0]
        message = "; ".join(e["message"] for e in entries)
        return cls(response.status_code, first["errorCode"], redact(message, secrets),
                   [f for e in entries for f in e["fields"]], purpose=purpose, attempts=attempt)

    def _connection_error(self, exc: Exception, attempt: int, host: str) -> SalesforceConnectionError:
        tries = f" after {attempt} attempts" if attempt > 1 else ""
        return SalesforceConnectionError(f"cannot reach Salesforce at {host}: {_reason(exc)}{tries}", host=host)

    def _tls_error(self, exc: Exception) -> SalesforceConnectionError:
        hint = ("" if self.config.ca_bundle else
                "; set SALESFORCE_CA_BUNDLE to the CA certificate when the server uses a private CA")
        return SalesforceConnectionError(
            f"TLS handshake with {self.config.host} failed (certificate not trusted){hint}", host=self.config.host
        )
