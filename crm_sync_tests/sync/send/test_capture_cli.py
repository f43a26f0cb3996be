"""Editing records with an origin: the API and `crm-sync platform set`."""

from __future__ import annotations

from click.testing import CliRunner

from crm_sync.platform import PlatformStore
from crm_sync.sync.send.capture import Actor, parse_actor
from crm_sync.sync.send.cli import platform_group
from crm_sync_tests.sync.send.conftest import settings_with


def test_parse_actor() -> None:
    assert parse_actor("user:ana@example.com") == Actor("user", "ana@example.com")
    assert parse_actor("system") == Actor("system")


def test_cli_edits_as_user_or_system_and_only_user_edits_enter_the_outbox(platform_url: str) -> None:
    runner = CliRunner()
    base = ["--url", platform_url]
    created = runner.invoke(platform_group, [*base, "set", "company", "new", "Name=Acme", "employees=12",
                                             "--as", "user:ana@example.com"])
    assert created.exit_code == 0, created.output
    assert "company 1 written as user:ana@example.com" in created.output
    changed = runner.invoke(platform_group, [*base, "set", "company", "1", "Name=Acme Inc", "--as", "user"])
    system = runner.invoke(platform_group, [*base, "set", "company", "1", "health_score=77.5", "--as", "system"])
    assert changed.exit_code == 0 and system.exit_code == 0, changed.output + system.output

    with PlatformStore(platform_url, settings_with()) as store:
        row = store.get_record("company", record_id=1)
        assert (row["name"], row["employees"], row["health_score"], row["origin"]) == ("Acme Inc", 12, 77.5, "system")
        assert [sorted(e.changed_columns) for e in store.outbox_entries()] == [["employees", "name"], ["name"]]

    listing = runner.invoke(platform_group, [*base, "outbox"])
    assert listing.exit_code == 0 and listing.output.count('"model": "company"') == 2
    bad = runner.invoke(platform_group, [*base, "set", "company", "1", "Nope=1"])
    assert bad.exit_code != 0 and "no column or Salesforce field 'Nope'" in bad.output
    wrong = runner.invoke(platform_group, [*base, "set", "company", "1", "Name=x", "--as", "robot"])
    assert wrong.exit_code != 0 and "--as must be" in wrong.output
