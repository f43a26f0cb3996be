"""The API versions the sandbox serves, and Salesforce's answer to a version it does not."""

from __future__ import annotations

import re

from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.server.responses import not_found

FIRST_VERSION, LAST_VERSION = 31, 62  # the versions GET /services/data/ lists; 7.0 to 30.0 are retired


def version_error(version: str, prefix: str = "v") -> SalesforceError | None:
    """Salesforce's answer to an API version it does not serve (None for a served one).

    A retired version (7.0 to 30.0) is 410 GONE, as Salesforce's end-of-life policy says; any other
    unknown or malformed version is the plain 404 NOT_FOUND Salesforce gives for a missing resource.
    `prefix` is "v" under /services/data/ and "" under /services/async/ (Bulk API 1.0).
    """
    match = re.fullmatch(re.escape(prefix) + r"(\d{1,3})\.0", version)
    number = int(match.group(1)) if match else None
    if number is not None and FIRST_VERSION <= number <= LAST_VERSION:
        return None
    if number is not None and 7 <= number < FIRST_VERSION:
        return SalesforceError(410, "API_VERSION_RETIRED",
                               f"API version {number}.0 is retired and unavailable; use "
                               f"{FIRST_VERSION}.0 to {LAST_VERSION}.0")
    return not_found()
