"""The sections file shipped with the package: loads, follows DESIGN's order, fits the sandbox org."""

from __future__ import annotations

from crm_sync.sandbox.catalog import CATALOG, describe_object
from crm_sync.settings import Direction, Settings, default_sections_path, validate_against_describe

DESIGN_ORDER = [
    ("User", "team_member", "receive"),
    ("Account", "company", "both"),
    ("Contact", "end_user", "both"),
    ("Note", "note", "both"),
    ("Task", "task", "both"),
    ("License__c", "license", "receive"),
    ("Asset", "asset", "receive"),
    ("Project__c", "project", "receive"),
    ("Case", "ticket", "receive"),
]


def sandbox_describe(name: str) -> dict | None:
    found = CATALOG.get(name)
    return describe_object(found) if found else None


def test_default_file_loads_in_design_order(default_settings: Settings) -> None:
    ordered = [(s.object, s.model, s.direction.value) for s in default_settings.in_order()]
    assert ordered == DESIGN_ORDER
    assert [s.object for s in default_settings.sections] == [o for o, _, _ in DESIGN_ORDER]
    assert all(s.enabled for s in default_settings.sections)


def test_default_file_has_a_commented_custom_object_example() -> None:
    text = default_sections_path().read_text()
    assert "any other custom object" in text
    assert "# - object: Invoice__c" in text


def test_default_defaults(default_settings: Settings) -> None:
    defaults = default_settings.defaults
    assert defaults.lookback_minutes == 10
    assert defaults.push_chunk_size == 200
    assert defaults.push_bulk_threshold == 2000
    assert defaults.max_attempts == 30
    assert defaults.modstamp_field == "LastModifiedDate"


def test_account_mapping_directions(default_settings: Settings) -> None:
    account = default_settings.section("Account")
    assert account is default_settings.section("company")
    by_column = {f.column: f for f in account.fields}
    assert by_column["annual_revenue"].type.value == "float"
    assert by_column["employees"].type.value == "integer"
    assert account.direction_of(by_column["health_score"]) is Direction.SEND
    assert account.direction_of(by_column["owner_email"]) is Direction.RECEIVE
    receive = [f.column for f in account.receive_fields()]
    send = [f.column for f in account.send_fields()]
    assert "health_score" in send and "health_score" not in receive
    assert "owner_email" in receive and "owner_email" not in send
    assert not any(f.is_parent_path for f in account.send_fields())


def test_soql_fields_has_id_receive_fields_and_both_modstamps(default_settings: Settings) -> None:
    account = default_settings.section("Account")
    fields = account.soql_fields()
    assert fields[0] == "Id"
    assert fields[-2:] == ["LastModifiedDate", "SystemModstamp"]
    assert "Owner.Email" in fields
    assert "Health_Score__c" not in fields  # send-only: never read back


def test_default_sections_fit_the_sandbox_org(default_settings: Settings) -> None:
    assert validate_against_describe(default_settings, sandbox_describe) == []


def test_predecessor_follows_sync_order(default_settings: Settings) -> None:
    assert default_settings.predecessor("User") is None
    assert default_settings.predecessor("Account").object == "User"
    assert default_settings.predecessor("Case").object == "Project__c"
