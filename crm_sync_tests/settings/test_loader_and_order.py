"""Which file is loaded (argument, env var, packaged default) and the sync order with `after`."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_sync.settings import SECTIONS_ENV, FieldMapping, Section, default_sections_path, load_settings
from crm_sync.settings.validation import sync_order

ONE_SECTION = """
sections:
  - object: {object}
    model: {model}
    direction: receive
    fields: [{{salesforce: Name, column: name}}]
"""


def write(tmp_path: Path, name: str, object_name: str, model: str) -> Path:
    path = tmp_path / name
    path.write_text(ONE_SECTION.format(object=object_name, model=model))
    return path


def test_env_var_points_to_the_users_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECTIONS_ENV, str(write(tmp_path, "mine.yaml", "Invoice__c", "invoice")))
    settings = load_settings()
    assert [s.object for s in settings.sections] == ["Invoice__c"]


def test_explicit_path_beats_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECTIONS_ENV, str(write(tmp_path, "env.yaml", "Invoice__c", "invoice")))
    settings = load_settings(write(tmp_path, "arg.yaml", "Order__c", "order_record"))
    assert [s.object for s in settings.sections] == ["Order__c"]


def test_packaged_default_without_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECTIONS_ENV, raising=False)
    assert default_sections_path().is_file()
    assert load_settings().sections[0].object == "User"


def test_env_var_naming_a_missing_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECTIONS_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="missing.yaml"):
        load_settings()


def test_empty_section_list_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("sections: []\n")
    assert load_settings(path).sections == []


def _section(object_name: str, after: list[str] | None = None) -> Section:
    return Section(object=object_name, model=object_name.lower(), direction="receive",
                   fields=[FieldMapping(salesforce="Name", column="name")], after=after or [])


def test_after_moves_a_section_behind_others_and_keeps_file_order_otherwise() -> None:
    sections = [_section("Case", after=["Contact"]), _section("Account"), _section("Contact", after=["Account"]),
                _section("Asset")]
    assert [s.object for s in sync_order(sections)] == ["Account", "Contact", "Case", "Asset"]


def test_after_is_case_insensitive() -> None:
    sections = [_section("Case", after=["contact"]), _section("Contact")]
    assert [s.object for s in sync_order(sections)] == ["Contact", "Case"]


def test_field_path_and_identifier_rules() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        FieldMapping(salesforce="Name", column="AccountName")
    with pytest.raises(ValueError, match="parent path"):
        FieldMapping(salesforce="Owner..Email", column="owner_email")
    with pytest.raises(ValueError, match="own tables"):
        Section(object="Account", model="outbox", direction="receive",
                fields=[FieldMapping(salesforce="Name", column="name")])
