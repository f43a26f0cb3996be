"""The one error type of the sandbox: it carries what Salesforce would answer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SalesforceError(Exception):
    """An error the sandbox answers in Salesforce's shape: [{"message", "errorCode", "fields"}]."""

    status: int
    error_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"

    def body(self) -> list[dict]:
        """The JSON body Salesforce's REST API returns for this error."""
        entry: dict = {"message": self.message, "errorCode": self.error_code}
        if self.fields:
            entry["fields"] = list(self.fields)
        return [entry]


def not_supported(what: str) -> SalesforceError:
    """The error for a feature outside what the sandbox implements; the message names it."""
    return SalesforceError(
        501,
        "NOT_SUPPORTED_BY_SANDBOX",
        f"{what} is not supported by the crm_sync sandbox",
    )
