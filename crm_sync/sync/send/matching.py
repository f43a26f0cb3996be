"""Matching before creating: a platform record without a Salesforce Id is matched by email
(case-insensitive, as SOQL compares text) to an existing Contact, else to an open Lead.

A Contact match makes the push an update of that Contact (its Id is stored on the platform record);
a Lead match creates nothing (the record's status says which Lead), so no duplicate person is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crm_sync.salesforce import soql
from crm_sync.salesforce.client import SalesforceClient

EMAILS_PER_QUERY = 200
MATCH_OBJECTS = (("Contact", ""), ("Lead", " AND IsConverted = false"))


@dataclass(frozen=True)
class Match:
    """An existing Salesforce record with the same email."""

    object: str
    id: str


def match_by_email(client: SalesforceClient, emails: Iterable[str]) -> dict[str, Match]:
    """Lowercased email -> the matching Contact (preferred) or open Lead; two queries per 200 emails."""
    wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
    matches: dict[str, Match] = {}
    for obj, extra in MATCH_OBJECTS:
        open_emails = [e for e in wanted if e not in matches]
        for start in range(0, len(open_emails), EMAILS_PER_QUERY):
            chunk = open_emails[start:start + EMAILS_PER_QUERY]
            listing = ", ".join(soql.quote(e) for e in chunk)
            query = f"SELECT Id, Email FROM {obj} WHERE Email IN ({listing}){extra} ORDER BY CreatedDate, Id"
            for record in client.query_records(query):
                email = (record.get("Email") or "").strip().lower()
                if email and email not in matches:
                    matches[email] = Match(obj, record["Id"])
    return matches
