"""Sync one account: the Account, every record related to it, and the User section, through the receive path.

Which records are "related" is read from the org's describe, not hard-coded: a section's records belong to
the account when one of their reference fields points at the Account (AccountId, Account__c, WhatId,
ParentId, ...) or at one of the account's Contacts (WhoId, ContactId, ParentId, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

from crm_sync.salesforce import soql
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import Section, Settings
from crm_sync.sync.receive import Receiver, ReceiveResult

ACCOUNT = "Account"
CONTACT = "Contact"
USER = "User"
MAX_IDS_PER_CONDITION = 1000  # keeps a query far below SOQL's 100,000-character limit


class AccountNotFoundError(LookupError):
    """The Account Id does not name an existing Account."""


def reference_fields(describe: dict | None, target: str) -> list[str]:
    """Names of the object's reference fields that can point at `target` records."""
    if not describe:
        return []
    return [f["name"] for f in describe.get("fields", [])
            if f.get("type") == "reference" and target in (f.get("referenceTo") or [])]


def related_condition(describe: dict | None, account_id: str, contact_ids: Sequence[str]) -> str | None:
    """The WHERE that selects an object's records related to the account, or None when none can be."""
    conditions = [f"{soql.path(name)} = {soql.quote(account_id)}" for name in reference_fields(describe, ACCOUNT)]
    chunks = [contact_ids[i:i + MAX_IDS_PER_CONDITION] for i in range(0, len(contact_ids), MAX_IDS_PER_CONDITION)]
    for name in reference_fields(describe, CONTACT):
        conditions += [soql.id_in(chunk, name) for chunk in chunks]
    return " OR ".join(conditions) if conditions else None


def sync_account(client: SalesforceClient, receiver: Receiver, settings: Settings, account_id: str, *,
                 run_id: str | None = None, sections: Sequence[Section] | None = None) -> list[ReceiveResult]:
    """Receive the account, its related records and the User section, in sync order; no cursor moves."""
    if not soql.is_id(account_id):
        raise ValueError(f"account_id {account_id!r} is not a Salesforce Id")
    field = settings.defaults.modstamp_field
    ordered = [s for s in sections if s.receives] if sections else settings.receiving_sections()
    found = client.count(ACCOUNT, f"Id = {soql.quote(account_id)}")
    if not found:
        raise AccountNotFoundError(f"no Account with Id {account_id} in the org")
    contact_ids = [r["Id"] for r in client.query_records(
        soql.select(CONTACT, ["Id"], f"AccountId = {soql.quote(account_id)}"))]

    results = []
    for section in ordered:
        if section.object == USER:
            where = "Id != null"
        elif section.object == ACCOUNT:
            where = f"Id = {soql.quote(account_id)}"
        else:
            where = related_condition(client.describe(section.object), account_id, contact_ids)
            if where is None:
                continue
        results.append(receiver.receive_where(section, where, modstamp_field=field, run_id=run_id))
    return results
