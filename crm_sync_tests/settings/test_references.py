"""References in the field mapping are the asset graph's edges, and the sync order must respect them."""

from __future__ import annotations

import pydantic
import pytest

from crm_sync.settings import FieldMapping, Section, SectionsError, Settings, load_settings, parse_settings
from crm_sync.settings.references import dependencies, references


def _names(sections: list[Section]) -> list[str]:
    return [s.object for s in sections]


def test_default_sections_depend_on_what_they_reference() -> None:
    receiving = load_settings().receiving_sections()
    by_object = {s.object: s for s in receiving}
    assert _names(dependencies(by_object["User"], receiving)) == []  # ManagerId is a self reference
    assert _names(dependencies(by_object["Account"], receiving)) == ["User"]  # ParentId is self, OwnerId -> User
    assert _names(dependencies(by_object["Contact"], receiving)) == ["User", "Account"]
    assert _names(dependencies(by_object["Case"], receiving)) == ["Account", "Contact"]
    assert _names(dependencies(by_object["License__c"], receiving)) == ["User", "Account"]  # Account__c
    assert _names(dependencies(by_object["Project__c"], receiving)) == ["Account"]  # Account__c, Account__r.Name
    assert _names(dependencies(by_object["Task"], receiving)) == ["User", "Account", "Contact"]  # WhoId, WhatId


SECTIONS = """
sections:
  - object: Contact
    model: end_user
    direction: receive
    {contact_extra}
    fields:
      - {{salesforce: LastName, column: last_name}}
      - {{salesforce: AccountId, column: company_sf_id, type: reference{reference_extra}}}
  - object: Account
    model: company
    direction: receive
    fields:
      - {{salesforce: Name, column: name}}
"""


def test_an_order_that_syncs_a_referenced_object_later_is_an_error_naming_the_section_and_field() -> None:
    with pytest.raises(SectionsError) as caught:
        parse_settings(SECTIONS.format(contact_extra="", reference_extra=""), "mine.yaml")
    [problem] = caught.value.problems
    assert problem.startswith("section 'Contact' (sections[0]), key 'fields[1].salesforce': 'AccountId' "
                              "references Account, which syncs later (sections[1])")
    assert "after: [Account]" in problem and "mine.yaml" in str(caught.value)


def test_after_or_an_empty_references_list_makes_the_order_valid() -> None:
    moved = parse_settings(SECTIONS.format(contact_extra="after: [Account]", reference_extra=""))
    assert _names(moved.in_order()) == ["Account", "Contact"]
    assert _names(dependencies(moved.section("Contact"), moved.receiving_sections())) == ["Account"]
    unlinked = parse_settings(SECTIONS.format(contact_extra="", reference_extra=", references: []"))
    assert _names(unlinked.in_order()) == ["Contact", "Account"]
    assert dependencies(unlinked.section("Contact"), unlinked.receiving_sections()) == []


def test_settings_built_in_code_are_checked_the_same_way() -> None:
    contact = Section(object="Contact", model="end_user", direction="receive",
                      fields=[FieldMapping(salesforce="AccountId", column="company_sf_id", type="reference")])
    account = Section(object="Account", model="company", direction="receive",
                      fields=[FieldMapping(salesforce="Name", column="name")])
    with pytest.raises(pydantic.ValidationError, match="'AccountId' references Account, which syncs later"):
        Settings(sections=[contact, account])
    assert _names(Settings(sections=[account, contact]).in_order()) == ["Account", "Contact"]


def test_declared_references_name_a_custom_lookups_target_and_off_sections_are_no_edge() -> None:
    invoice = Section(object="Invoice__c", model="invoice", direction="receive", fields=[
        FieldMapping(salesforce="Bill_To__c", column="bill_to_sf_id", type="reference", references=["Contact"]),
        FieldMapping(salesforce="Account.Name", column="company_name")])
    contact = Section(object="Contact", model="end_user", direction="receive",
                      fields=[FieldMapping(salesforce="LastName", column="last_name")])
    account = Section(object="Account", model="company", direction="off",
                      fields=[FieldMapping(salesforce="Name", column="name")])
    settings = Settings(sections=[contact, invoice, account])  # Account is off: after Invoice__c is no problem
    assert [(r.field.salesforce, r.target.object) for r in references(invoice, settings.sections)] == [
        ("Bill_To__c", "Contact"), ("Account.Name", "Account")]
    assert _names(dependencies(invoice, settings.receiving_sections())) == ["Contact"]
