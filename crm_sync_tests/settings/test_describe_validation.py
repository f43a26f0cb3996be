"""validate_against_describe with describes built from the sandbox catalog."""

from __future__ import annotations

from collections import Counter

from crm_sync.sandbox.catalog import CATALOG, describe_object
from crm_sync.settings import FieldMapping, Section, Settings, validate_against_describe


def sandbox_describe(name: str) -> dict | None:
    found = CATALOG.get(name)
    return describe_object(found) if found else None


def settings_of(*sections: Section) -> Settings:
    return Settings(sections=list(sections))


def section(object_name: str, *fields: FieldMapping, direction: str = "receive", **extra) -> Section:
    return Section(object=object_name, model=object_name.lower().replace("__c", ""), direction=direction,
                   fields=list(fields), **extra)


def test_unknown_object() -> None:
    problems = validate_against_describe(
        settings_of(section("Invoice__c", FieldMapping(salesforce="Name", column="name"))), sandbox_describe)
    assert problems == ["section 'Invoice__c' (sections[0]), key 'object': "
                        "object 'Invoice__c' does not exist in the org"]


def test_unknown_field_names_section_and_key() -> None:
    settings = settings_of(section("Account", FieldMapping(salesforce="Name", column="name"),
                                   FieldMapping(salesforce="Colour__c", column="colour")))
    [problem] = validate_against_describe(settings, sandbox_describe)
    assert problem.startswith("section 'Account' (sections[0]), key 'fields[1].salesforce'")
    assert "Colour__c" in problem


def test_parent_paths_resolve_through_relationships() -> None:
    settings = settings_of(section(
        "Contact",
        FieldMapping(salesforce="Account.Owner.Email", column="account_owner_email"),
        FieldMapping(salesforce="Account.Nope", column="nope"),
        FieldMapping(salesforce="Boss.Email", column="boss_email"),
    ))
    problems = validate_against_describe(settings, sandbox_describe)
    assert len(problems) == 2
    assert "key 'fields[1].salesforce'" in problems[0] and "Nope" in problems[0]
    assert "key 'fields[2].salesforce'" in problems[1] and "no relationship 'Boss'" in problems[1]


def test_polymorphic_relationship_resolves_when_a_target_has_the_field() -> None:
    settings = settings_of(section("Task", FieldMapping(salesforce="What.Name", column="what_name"),
                                   FieldMapping(salesforce="Who.Email", column="who_email")))
    assert validate_against_describe(settings, sandbox_describe) == []


def test_send_field_that_salesforce_cannot_write() -> None:
    settings = settings_of(section("Contact", FieldMapping(salesforce="LastName", column="last_name"),
                                   FieldMapping(salesforce="Name", column="name"), direction="both"))
    [problem] = validate_against_describe(settings, sandbox_describe)
    assert problem.startswith("section 'Contact' (sections[0]), key 'fields[1].direction'")
    assert "neither createable nor updateable" in problem


def test_createable_only_field_may_be_sent() -> None:
    settings = settings_of(section("Note", FieldMapping(salesforce="ParentId", column="parent_sf_id", type="reference"),
                                   FieldMapping(salesforce="Title", column="title"), direction="both"))
    assert validate_against_describe(settings, sandbox_describe) == []


def test_column_type_that_cannot_hold_the_field() -> None:
    settings = settings_of(section("Account", FieldMapping(salesforce="Name", column="name", type="integer"),
                                   FieldMapping(salesforce="NumberOfEmployees", column="employees", type="float")))
    [problem] = validate_against_describe(settings, sandbox_describe)
    assert "key 'fields[0].type'" in problem and "string field" in problem


def test_disabled_and_off_sections_are_not_checked() -> None:
    settings = settings_of(
        section("Invoice__c", FieldMapping(salesforce="Name", column="name"), enabled=False),
        section("Order__c", FieldMapping(salesforce="Name", column="name"), direction="off"),
    )
    assert validate_against_describe(settings, sandbox_describe) == []


def test_describe_is_called_once_per_object(default_settings: Settings) -> None:
    calls: Counter[str] = Counter()

    def counting(name: str) -> dict | None:
        calls[name.lower()] += 1
        return sandbox_describe(name)

    assert validate_against_describe(default_settings, counting) == []
    assert calls and max(calls.values()) == 1
    assert "user" in calls and "account" in calls
