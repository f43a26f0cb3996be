"""Every validation error names the file, the section and the key; all problems are listed at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pydantic
import pytest

from crm_sync.settings import FieldMapping, Section, SectionsError, Settings, load_settings, parse_settings

GOOD_ACCOUNT = """
  - object: Account
    model: company
    direction: both
    fields:
      - {salesforce: Name, column: name}
      - {salesforce: Owner.Email, column: owner_email, direction: receive}
"""


def problems_of(yaml_text: str, tmp_path: Path) -> tuple[str, list[str]]:
    path = tmp_path / "sections.yaml"
    path.write_text(textwrap.dedent(yaml_text))
    with pytest.raises(SectionsError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    return str(caught.value), caught.value.problems


def only_problem(yaml_text: str, tmp_path: Path) -> str:
    _, problems = problems_of(yaml_text, tmp_path)
    assert len(problems) == 1, problems
    return problems[0]


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("sections:" + GOOD_ACCOUNT)
    settings = load_settings(path)
    assert settings.section("Account").model == "company"


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    message = only_problem("sections:\n  - object: Account\n    fields: [a, b\n", tmp_path)
    assert "not valid YAML" in message and "line" in message


def test_unknown_key_in_section(tmp_path: Path) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT + "    colour: red\n", tmp_path)
    assert message.startswith("section 'Account' (sections[0]), key 'colour'")
    assert "unknown key" in message


def test_unknown_key_in_field_and_at_top_level(tmp_path: Path) -> None:
    text = "extra: 1\nsections:" + GOOD_ACCOUNT + "      - {salesforce: Phone, column: phone, colour: red}\n"
    _, problems = problems_of(text, tmp_path)
    assert "key 'extra': unknown key (allowed: sections, defaults)" in problems
    assert "section 'Account' (sections[0]), key 'fields[2].colour': unknown key" in problems


def test_bad_direction(tmp_path: Path) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT.replace("direction: both", "direction: sideways"), tmp_path)
    assert message.startswith("section 'Account' (sections[0]), key 'direction'")
    assert "'sideways'" in message


def test_bad_field_direction(tmp_path: Path) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT.replace("direction: receive}", "direction: upward}"), tmp_path)
    assert "key 'fields[1].direction'" in message and "'upward'" in message


def test_send_field_on_a_parent_path(tmp_path: Path) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT.replace(", direction: receive}", "}"), tmp_path)
    assert message.startswith("section 'Account' (sections[0]), key 'fields[1].direction'")
    assert "parent path" in message and "Owner.Email" in message


def test_field_direction_the_section_does_not_allow(tmp_path: Path) -> None:
    text = """
    sections:
      - object: Case
        model: ticket
        direction: receive
        fields:
          - {salesforce: Subject, column: subject, direction: send}
    """
    message = only_problem(text, tmp_path)
    assert message.startswith("section 'Case' (sections[0]), key 'fields[0].direction'")
    assert "only receives" in message


@pytest.mark.parametrize("key, duplicate", [
    ("object", "  - object: Account\n    model: company_copy\n    direction: receive\n"
               "    fields: [{salesforce: Name, column: name}]\n"),
    ("model", "  - object: Contact\n    model: company\n    direction: receive\n"
              "    fields: [{salesforce: Name, column: name}]\n"),
])
def test_duplicate_object_or_model(tmp_path: Path, key: str, duplicate: str) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT + duplicate, tmp_path)
    assert message.startswith("section '") and f"(sections[1]), key '{key}'" in message
    assert "duplicate" in message and "sections[0]" in message


def test_duplicate_column(tmp_path: Path) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT + "      - {salesforce: Website, column: name}\n", tmp_path)
    assert message.startswith("section 'Account' (sections[0]), key 'fields[2].column'")
    assert "duplicate column 'name'" in message


def test_reserved_column(tmp_path: Path) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT + "      - {salesforce: Type, column: origin}\n", tmp_path)
    assert "key 'fields[2].column'" in message and "reserved" in message


def test_cycle_in_after(tmp_path: Path) -> None:
    text = """
    sections:
      - {object: Account, model: company, direction: receive, after: Case, fields: [{salesforce: Name, column: name}]}
      - {object: Contact, model: end_user, direction: receive, after: [Account],
         fields: [{salesforce: Email, column: email}]}
      - {object: Case, model: ticket, direction: receive, after: [Contact],
         fields: [{salesforce: Subject, column: subject}]}
    """
    message = only_problem(text, tmp_path)
    assert message.startswith("section 'Account' (sections[0]), key 'after'")
    assert "cycle in the sync order: Account -> Case -> Contact -> Account" in message


def test_after_naming_no_section(tmp_path: Path) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT + "    after: [Opportunity]\n", tmp_path)
    assert message.startswith("section 'Account' (sections[0]), key 'after[0]'")
    assert "Opportunity" in message


@pytest.mark.parametrize("condition, reason", [
    ("", "empty"),
    ("SELECT Id FROM Account", "SELECT"),
    ("Industry = 'Retail' ORDER BY Name", "ORDER"),
    ("Industry = 'Retail' LIMIT 10", "LIMIT"),
    ("(Industry = 'Retail'", "parentheses"),
    ("Industry = 'Retail')", "parentheses"),
    ("Industry = 'Retail", "quote"),
    ('Industry = "Retail"', "single quotes"),
    ("Industry = 'Retail' AND", "dangling"),
    ("Retail", "comparison"),
    ("Industry = 'Retail'; DELETE", "';'"),
])
def test_bad_filter(tmp_path: Path, condition: str, reason: str) -> None:
    message = only_problem("sections:" + GOOD_ACCOUNT + "    filter: " + _yaml_string(condition) + "\n", tmp_path)
    assert message.startswith("section 'Account' (sections[0]), key 'filter'")
    assert reason in message


def _yaml_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def test_bad_defaults_value(tmp_path: Path) -> None:
    message = only_problem("defaults: {push_chunk_size: 500}\nsections:" + GOOD_ACCOUNT, tmp_path)
    assert message.startswith("key 'defaults.push_chunk_size'")


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = """
    sections:
      - {object: Account, model: company, direction: sideways, fields: [{salesforce: Name, column: name}]}
      - {object: Contact, model: company, direction: both, filter: "SELECT 1",
         fields: [{salesforce: Account.Name, column: company_name}]}
      - {object: Case, model: ticket, direction: receive, colour: red, fields: [{salesforce: Subject, column: Subject}]}
    """
    full, problems = problems_of(text, tmp_path)
    assert len(problems) >= 5, problems
    assert f"{len(problems)} problems in the sync sections" in full
    joined = "\n".join(problems)
    for expected in ("section 'Account' (sections[0]), key 'direction'",
                     "section 'Contact' (sections[1]), key 'filter'",
                     "section 'Contact' (sections[1]), key 'model'",
                     "section 'Case' (sections[2]), key 'colour'",
                     "section 'Case' (sections[2]), key 'fields[0].column'"):
        assert expected in joined


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SectionsError, match="cannot read the sections file"):
        load_settings(tmp_path / "nope.yaml")


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SectionsError, match="must be a mapping"):
        parse_settings("- a\n- b\n")


def test_settings_built_in_code_are_checked_too() -> None:
    name = FieldMapping(salesforce="Name", column="name")
    account = Section(object="Account", model="company", direction="receive", fields=[name], after=["Contact"])
    contact = Section(object="Contact", model="end_user", direction="receive", fields=[name], after=["Account"])
    with pytest.raises(pydantic.ValidationError, match="cycle in the sync order"):
        Settings(sections=[account, contact])
    with pytest.raises(pydantic.ValidationError, match="parent path"):
        Section(object="Account", model="company", direction="both",
                fields=[FieldMapping(salesforce="Owner.Email", column="owner_email")])
