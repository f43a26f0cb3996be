"""Rules before sending and matching by email, against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient
from crm_sync.settings.filters import included
from crm_sync.sync.send import edit_record, push_changes
from crm_sync_tests.sync.send.conftest import section_data, settings_with, sf_records


def _status(store: PlatformStore, record_id: int) -> str:
    return store.get_record("end_user", record_id=record_id)["sync_status"]


def test_no_email_duplicate_email_and_required_columns_are_not_sent(client: SalesforceClient, store: PlatformStore,
                                                                      marker: str) -> None:
    before = client.count("Contact")
    no_email = edit_record(store, "end_user", {"last_name": f"NoMail {marker}"}, actor="user")
    first = edit_record(store, "end_user", {"last_name": "First", "email": f"dup.{marker}@example.com"}, actor="user")
    second = edit_record(store, "end_user", {"last_name": "Second", "email": f"DUP.{marker}@Example.com "},
                         actor="user")

    result = push_changes(client, store)

    assert result.sent == 1 and result.skipped == 2 and dict(result.skip_reasons) == {"no_email": 1,
                                                                                      "duplicate_email": 1}
    assert _status(store, no_email) == "skipped:no_email"
    assert _status(store, second) == "skipped:duplicate_email"
    assert _status(store, first) == "ok"
    assert client.count("Contact") == before + 1
    assert store.outbox_entries() == []  # decided: nothing waits


@pytest.fixture
def filtered_store(platform_url: str) -> Iterator[PlatformStore]:
    """Contacts from purchased lists are outside the inclusion filter; only email is a required column."""
    def change(data: dict) -> None:
        contact = section_data(data, "Contact")
        contact["filter"] = "LeadSource != 'Purchased List'"
        contact["required_columns"] = ["email"]
    with PlatformStore(platform_url, settings_with(change)) as opened:
        yield opened


def test_outside_the_filter_and_missing_a_field_salesforce_requires(client: SalesforceClient,
                                                                     filtered_store: PlatformStore,
                                                                     marker: str) -> None:
    store = filtered_store
    outside = edit_record(store, "end_user", {"last_name": "Bought", "email": f"b.{marker}@example.com",
                                              "lead_source": "purchased list"}, actor="user")
    no_last_name = edit_record(store, "end_user", {"email": f"nolast.{marker}@example.com"}, actor="user")
    inside = edit_record(store, "end_user", {"last_name": "Web", "email": f"w.{marker}@example.com",
                                             "lead_source": "Web"}, actor="user")

    result = push_changes(client, store)

    assert result.sent == 1
    assert _status(store, outside) == "skipped:outside_filter"
    assert _status(store, no_last_name) == "skipped:missing_lastname"
    assert "LastName" in store.get_record("end_user", record_id=no_last_name)["sync_error"]
    assert _status(store, inside) == "ok"


def test_inclusion_filter_expressions() -> None:
    def section(condition: str):
        def change(data: dict) -> None:
            section_data(data, "Contact")["filter"] = condition
        return settings_with(change).section("Contact")

    row = {"lead_source": "Web", "title": "CTO", "email_opt_out": False, "birthdate": None}
    assert included(section("LeadSource IN ('Web', 'Other') AND NOT (Title LIKE 'c%o' AND HasOptedOutOfEmail = true)"),
                    row)
    assert not included(section("LeadSource NOT IN ('web') OR Birthdate != null"), row)
    assert included(section("Unmapped__c = 'x'"), row)  # cannot be judged here: counts as met


def test_a_new_end_user_is_matched_by_email_to_a_contact_or_a_lead(client: SalesforceClient, store: PlatformStore,
                                                                    marker: str) -> None:
    contact = sf_records(client, "Contact", "Email != null ORDER BY Id LIMIT 1", "Id, Email")[0]
    lead = sf_records(client, "Lead", "Email != null AND IsConverted = false ORDER BY Id LIMIT 1", "Id, Email")[0]
    contacts_before = client.count("Contact")
    to_contact = edit_record(store, "end_user", {"last_name": f"Matched {marker}", "title": marker,
                                                 "email": contact["Email"].upper()}, actor="user")
    to_lead = edit_record(store, "end_user", {"last_name": "Lead person", "email": lead["Email"].title()},
                          actor="user")

    result = push_changes(client, store)

    assert result.matched == 1 and result.created == 0 and result.sent == 1
    assert client.count("Contact") == contacts_before
    assert store.get_record("end_user", record_id=to_contact)["salesforce_id"] == contact["Id"]
    assert sf_records(client, "Contact", f"Id = '{contact['Id']}'", "Title")[0]["Title"] == marker
    linked = store.get_record("end_user", record_id=to_lead)
    assert linked["sync_status"] == "skipped:matched_lead" and lead["Id"] in linked["sync_error"]
    assert linked["salesforce_id"] is None
