"""Status in each of its four states, pause/resume on a real Dagster instance, and the CLI commands."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from click.testing import CliRunner

from crm_sync.demo import ui_dagster_command
from crm_sync.health_cli import log_command, parse_since, pause_command, resume_command, status_command
from crm_sync.platform import PlatformStore
from crm_sync.settings import Settings
from crm_sync.sync.health import pause as pausing
from crm_sync.sync.health.status import Status, gather_status

CREDENTIALS = {"SALESFORCE_USERNAME": "integration@example.com", "SALESFORCE_PASSWORD": "secret",
               "SALESFORCE_INSTANCE_URL": "https://127.0.0.1:9"}


@pytest.fixture
def store(sqlite_url: str, default_settings: Settings) -> Iterator[PlatformStore]:
    with PlatformStore(sqlite_url, default_settings) as opened:
        yield opened


def _check(store: PlatformStore, section: str, check: str, passed: bool) -> None:
    store.log_event("health_check", section=section, run_id="r1", count=int(passed),
                    details={"check": check, "passed": passed, "severity": "ERROR", "description": "", "metadata": {}})


def test_status_takes_each_of_its_four_states(store: PlatformStore) -> None:
    incomplete = gather_status(store, paused=False, environ={})
    assert incomplete.status is Status.INCOMPLETE
    assert "credentials" in incomplete.reasons[0]

    assert gather_status(store, paused=False, environ=CREDENTIALS).status is Status.ACTIVE
    assert gather_status(store, paused=True, environ=CREDENTIALS).status is Status.INACTIVE

    _check(store, "Account", "reconciliation", passed=False)
    error = gather_status(store, paused=False, environ=CREDENTIALS)
    assert error.status is Status.ERROR
    assert error.failed_checks == ["Account.reconciliation"]
    assert error.to_dict()["failed_checks"] == ["Account.reconciliation"]

    _check(store, "Account", "reconciliation", passed=True)  # the latest evaluation counts
    assert gather_status(store, paused=False, environ=CREDENTIALS).status is Status.ACTIVE

    store.log_event("sync_failed", section="Contact", run_id="r2", details={"error": "boom"})
    failed = gather_status(store, paused=False, environ=CREDENTIALS)
    assert failed.status is Status.ERROR and any("Contact: boom" in r for r in failed.reasons)
    store.log_event("sync_completed", section="Contact", run_id="r3", count=3,
                    details={"records_imported": 2, "records_updated": 1})
    healthy = gather_status(store, paused=False, environ=CREDENTIALS)
    assert healthy.status is Status.ACTIVE
    contact = next(s for s in healthy.sections if s.section == "Contact")
    assert (contact.imported, contact.updated, contact.last_sync_event) == (2, 1, "sync_completed")
    assert "Contact" in healthy.render()


def test_status_counts_outbox_depth_and_dead_letters(sqlite_url: str, default_settings: Settings) -> None:
    one_try = default_settings.model_copy(update={"defaults": default_settings.defaults.model_copy(
        update={"max_attempts": 1})})
    with PlatformStore(sqlite_url, one_try) as store:
        store.write_record("Account", {"name": "Acme"}, origin="user")
        store.write_record("Account", {"name": "Beta"}, origin="user")
        token, claimed = store.claim_outbox(limit=1)
        assert store.fail_outbox(claimed[0].id, token, {"statusCode": "X", "message": "no", "fields": []})
        report = gather_status(store, paused=False, environ=CREDENTIALS)
    account = next(s for s in report.sections if s.section == "Account")
    assert (account.outbox_depth, account.dead_letters) == (1, 1)
    assert (report.outbox_depth, report.dead_letters) == (1, 1)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as temporary:
        yield temporary


def test_pause_stops_every_schedule_and_sensor_and_resume_restores_exactly_them(
        instance: dg.DagsterInstance, store: PlatformStore) -> None:
    # The UI of `make ui` (location crm_sync.definitions) turned a sensor on; a second deployment of the same
    # code under another location name turned the 30-minute schedule on. Pause finds both from the instance.
    with pausing.crm_sync_location(instance, location_name="crm_sync.definitions") as ui, \
            pausing.crm_sync_location(instance, location_name="crm-sync-k8s") as other:
        instance.start_sensor(next(i for i in pausing.instigators(ui) if i.name == "salesforce_changes"))
        instance.start_schedule(next(i for i in pausing.instigators(other)
                                     if i.name == "receive_every_30_minutes_schedule"))
        before = {loc.name: set(pausing.running_names(instance, loc)) for loc in (ui, other)}
        assert {"salesforce_changes", "receive_every_10_minutes_schedule"} <= before["crm_sync.definitions"]
        assert "receive_every_30_minutes_schedule" not in before["crm_sync.definitions"]
        assert "receive_every_30_minutes_schedule" in before["crm-sync-k8s"]

        with pausing.crm_sync_locations(instance) as found:
            assert sorted(loc.name for loc in found) == ["crm-sync-k8s", "crm_sync.definitions"]
            stopped = pausing.pause(instance, found)
        assert {name: set(names) for name, names in stopped.items()} == before
        assert pausing.running_names(instance, ui) == [] and pausing.running_names(instance, other) == []
        assert pausing.is_paused(instance)
        assert gather_status(store, paused=pausing.is_paused(instance), environ=CREDENTIALS).status is Status.INACTIVE
        assert pausing.pause(instance, [ui]) == {}  # pausing twice keeps the first record

        assert sorted(pausing.recorded_location_names(instance)) == ["crm-sync-k8s", "crm_sync.definitions"]
        with pausing.crm_sync_locations(instance, pausing.recorded_location_names(instance)) as found:
            started = pausing.resume(instance, found)
        assert {name: set(names) for name, names in started.items()} == before
        assert {loc.name: set(pausing.running_names(instance, loc)) for loc in (ui, other)} == before
        assert not pausing.is_paused(instance)
        assert gather_status(store, paused=pausing.is_paused(instance), environ=CREDENTIALS).status is Status.ACTIVE


def test_the_default_location_name_is_the_one_of_make_ui_workspace_yaml_and_dg() -> None:
    root = Path(__file__).resolve().parents[3]
    workspace = yaml.safe_load((root / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    project = tomllib.loads((root / "pyproject.toml").read_text())["tool"]
    assert pausing.DEFAULT_LOCATION_NAME == workspace["location_name"] == project["dagster"]["code_location_name"]
    assert project["dg"]["project"]["code_location_name"] == pausing.DEFAULT_LOCATION_NAME
    assert ui_dagster_command(3000)[-6:] == ["-m", pausing.DEFINITIONS_MODULE, "-h", "127.0.0.1", "-p", "3000"]
    assert pausing.DEFAULT_LOCATION_NAME == pausing.DEFINITIONS_MODULE  # the name `dagster dev -m` gives


def test_cli_pause_status_resume_and_log(tmp_path: Path, sqlite_url: str, default_settings: Settings) -> None:
    env = {**CREDENTIALS, "DAGSTER_HOME": str(tmp_path / "home"), "CRM_SYNC_PLATFORM_URL": sqlite_url}
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # as a real home has
    with PlatformStore(sqlite_url, default_settings) as store:
        store.log_event("sync_started", section="Account", run_id="run-aaaa")
        store.log_event("records_imported", section="Account", run_id="run-aaaa", count=7)
        store.log_event("sync_completed", section="Contact", run_id="run-bbbb", count=0,
                        at=datetime.now(UTC) - timedelta(days=3))
    runner = CliRunner()

    paused = runner.invoke(pause_command, env=env)
    assert paused.exit_code == 0, paused.output
    assert "receive_every_10_minutes_schedule" in paused.output
    status = runner.invoke(status_command, ["--offline"], env=env)
    assert status.exit_code == 0, status.output
    assert status.output.startswith("Status: Inactive")
    resumed = runner.invoke(resume_command, env=env)
    assert "receive_every_10_minutes_schedule" in resumed.output
    assert runner.invoke(status_command, ["--offline"], env=env).output.startswith("Status: Active")

    recent = runner.invoke(log_command, ["--since", "1d"], env=env)
    assert recent.exit_code == 0, recent.output
    assert "records_imported" in recent.output and "Contact" not in recent.output
    only_contact = runner.invoke(log_command, ["--section", "end_user"], env=env)
    assert "sync_completed" in only_contact.output and "Account" not in only_contact.output
    assert runner.invoke(log_command, ["--section", "Nope"], env=env).exit_code != 0


def test_parse_since_reads_spans_and_dates() -> None:
    now = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2024-05-01", now) == datetime(2024, 5, 1, tzinfo=UTC)


def test_status_table_keeps_the_last_sync_time_apart_from_the_result(store: PlatformStore) -> None:
    at = datetime(2024, 5, 2, 12, 0, 7, 123456, tzinfo=UTC)
    store.log_event("sync_completed", section="Account", run_id="r1", count=3, at=at,
                    details={"records_imported": 3})
    rendered = gather_status(store, paused=False, environ=CREDENTIALS).render()
    header, account = (next(line for line in rendered.splitlines() if line.startswith(word))
                       for word in ("section", "Account"))
    assert "2024-05-02 12:00:07  ok" in account
    assert header.index("result") == account.index("ok")  # the column starts where its header does


def test_cli_log_limit_shows_the_newest_rows_oldest_first(tmp_path: Path, sqlite_url: str,
                                                          default_settings: Settings) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    with PlatformStore(sqlite_url, default_settings) as store:
        for minute in range(5):
            store.log_event("records_imported", section="Account", run_id=f"run-{minute}", count=minute,
                            at=start + timedelta(minutes=minute))
    shown = CliRunner().invoke(log_command, ["--limit", "2", "--json"], env={"CRM_SYNC_PLATFORM_URL": sqlite_url})
    assert shown.exit_code == 0, shown.output
    assert [json.loads(line)["run_id"] for line in shown.output.splitlines()] == ["run-3", "run-4"]
