"""Errors raised by the Salesforce client.

Every error carries only what Salesforce (or the network) said: status, errorCode, message and
fields. None of them ever holds a password, security token, client secret or access token; the
transport scrubs known secret values from messages before raising (see `redact`).
"""

from __future__ import annotations

from collections.abc import Iterable


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every non-empty secret value replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _rebuild(cls: type, args: tuple, kwargs: dict) -> Exception:
    return cls(*args, **kwargs)


class SalesforceError(Exception):
    """Base class of every error of crm_sync.salesforce."""


class SalesforceConfigError(SalesforceError):
    """The configuration cannot work (missing credentials, malformed URL); the message names the setting."""


class SalesforceConnectionError(SalesforceError):
    """The instance could not be reached (refused, DNS, TLS, timeout) after the allowed retries."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host

    def __reduce__(self):
        return (_rebuild, (type(self), (str(self),), {"host": self.host}))


class OutcomeUnknown(SalesforceConnectionError):
    """A request that is not safe to repeat (a create) may have reached Salesforce, but no answer came back.

    It was not sent again: the caller must find out whether it took effect before trying again.
    """


class SalesforceAuthError(SalesforceError):
    """Salesforce refused the credentials (login failed, or re-login after an expired session failed)."""

    def __init__(self, message: str, *, error_code: str | None = None, host: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.host = host

    def __reduce__(self):
        return (_rebuild, (type(self), (str(self),), {"error_code": self.error_code, "host": self.host}))


class SalesforceApiError(SalesforceError):
    """An API call failed with Salesforce's error shape: status, errorCode, message, fields."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        fields: Iterable[str] = (),
        *,
        purpose: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = list(fields)
        self.purpose = purpose
        self.attempts = attempts
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" during {self.purpose}" if self.purpose else ""
        tried = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        fields = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"HTTP {self.status} {self.error_code}{where}{tried}: {self.message}{fields}"

    def __reduce__(self):  # picklable with every attribute (runs may ship errors across processes)
        return (_rebuild, (type(self), (self.status, self.error_code, self.message, self.fields),
                           {"purpose": self.purpose, "attempts": self.attempts}))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status}, error_code={self.error_code!r}, "
                f"message={self.message!r}, fields={self.fields!r})")


class ApiLimitReached(SalesforceApiError):
    """The org's daily API request limit is spent (REQUEST_LIMIT_EXCEEDED): stop cleanly, do not retry."""


class BulkJobFailed(SalesforceError):
    """A Bulk API 2.0 job ended Failed or Aborted; the message carries the job's errorMessage."""

    def __init__(self, job_id: str, state: str, error_message: str | None) -> None:
        self.job_id = job_id
        self.state = state
        self.error_message = error_message or ""
        super().__init__(f"Bulk API 2.0 job {job_id} ended {state}: {self.error_message or 'no errorMessage'}")

    def __reduce__(self):
        return (_rebuild, (type(self), (self.job_id, self.state, self.error_message), {}))


class BulkJobTimeout(SalesforceError):
    """A Bulk API 2.0 job did not finish within the configured time."""

    def __init__(self, job_id: str, state: str, seconds: float) -> None:
        self.job_id = job_id
        self.state = state
        self.seconds = seconds
        super().__init__(f"Bulk API 2.0 job {job_id} still {state} after {seconds:.0f} s")

    def __reduce__(self):
        return (_rebuild, (type(self), (self.job_id, self.state, self.seconds), {}))


class SalesforceSchemaError(SalesforceError):
    """An object, field or relationship path does not exist in the org's describe."""
