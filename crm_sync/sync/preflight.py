"""Checks that run before any fetch: the sections fit the org, and the credentials work.

A problem found here stops the run before a single record is fetched or a cursor moves, with a message
that names the section and the key (or the connection problem) so the user knows what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import Section, Settings, validate_against_describe


class SyncSetupError(RuntimeError):
    """The sync cannot start: the sections do not fit the org. `problems` lists every one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the sync sections do not fit the Salesforce org:\n{listing}")


def check_sections(client: SalesforceClient, settings: Settings, sections: Sequence[Section] | None = None) -> None:
    """Log in and check the sections (all enabled ones, or just `sections`) against the org's describe.

    Raises the client's SalesforceAuthError / SalesforceConnectionError for credentials and reachability,
    SyncSetupError for unknown objects and fields or fields Salesforce will not let us write.
    """
    client.login()
    if sections is not None:
        wanted = {s.object for s in sections}
        settings = settings.model_copy(update={"sections": [s for s in settings.sections if s.object in wanted]})
    problems = validate_against_describe(settings, client.describe)
    if problems:
        raise SyncSetupError(problems)
