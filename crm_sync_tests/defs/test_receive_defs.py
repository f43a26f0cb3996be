"""The receive side run by Dagster for real: materialize, full_fetch, schedules, the change sensor, sync_account,
and bad input stopping a run before anything is fetched."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from crm_sync.definitions import build_definitions
from crm_sync.defs.partitions import receive_partitions
from crm_sync.platform import PlatformStore
from crm_sync.salesforce.errors import SalesforceApiError, SalesforceAuthError, SalesforceConnectionError
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.settings import Settings
from crm_sync.sync.preflight import SyncSetupError
from crm_sync.sync.receive_run import receive_days
from crm_sync_tests.sync.conftest import fast_settings, make_client
from crm_sync_tests.sync.receive_helpers import mismatches

RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def _full_fetch(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    keys = receive_partitions(settings).get_partition_keys()
    job = build_definitions(settings).resolve_job_def("receive_range")
    return job.execute_in_process(instance=instance, tags=dict(zip(RANGE_TAGS, (keys[0], keys[-1]), strict=True)))


def _api_used(sandbox: SandboxInfo) -> int:
    return sandbox.admin.api_usage()["used"]


def test_definitions_validate_from_the_command_line(tmp_path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    answer = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m",
                             "crm_sync.definitions"], env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert "Validation successful" in answer.stderr + answer.stdout


def test_asset_graph_is_the_references_and_the_sync_order_one_order_of_it(crm_env: Settings) -> None:
    graph = build_definitions(crm_env).resolve_asset_graph()

    def parents(obj: str) -> set[str]:
        return {key.path[-1] for key in graph.get(dg.AssetKey(["salesforce", obj])).parent_keys}

    assert parents("User") == set()
    assert parents("Contact") == {"Account", "User"}  # AccountId, OwnerId
    assert parents("Case") == {"Account", "Contact"}
    assert parents("Project__c") == {"Account"}  # not the section before it in the file (Asset)
    ordered = [s.object for s in crm_env.receiving_sections()]
    for position, obj in enumerate(ordered):
        assert parents(obj) <= set(ordered[:position]), obj


def test_each_asset_shows_its_mapping_as_a_column_schema(crm_env: Settings) -> None:
    defs = build_definitions(crm_env)
    key = dg.AssetKey(["salesforce", "Contact"])
    schema = defs.resolve_assets_def(key).specs_by_key[key].metadata["dagster/column_schema"]
    columns = {c.name: c for c in schema.columns}
    assert set(crm_env.section("Contact").columns) <= set(columns)
    assert {"salesforce_id", "sf_last_modified", "deleted"} <= set(columns)
    assert columns["company_sf_id"].type == "reference"
    assert columns["company_sf_id"].description == "Contact.AccountId (both); references Account"


def test_materialize_one_partition_reports_numeric_metadata(crm_env: Settings, sandbox) -> None:
    defs = build_definitions(crm_env)
    today = datetime.now(UTC).date().isoformat()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key=today, asset_selection=[dg.AssetKey(["salesforce", "Account"])],
                                    instance=dg.DagsterInstance.ephemeral())
    assert result.success
    [materialization] = result.asset_materializations_for_node("salesforce__Account")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    for key in ("records_imported", "records_updated", "records_deleted", "records_skipped", "api_calls", "seconds"):
        assert isinstance(metadata[key], int | float), key
    assert metadata["window_start"].startswith(today)
    count = make_client(sandbox).count("Account", f"LastModifiedDate >= {today}T00:00:00Z", include_deleted=True)
    assert metadata["records_imported"] + metadata["records_skipped"] == count


def test_a_range_run_gives_each_partition_its_own_metadata(crm_env: Settings, sandbox) -> None:
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=i)).isoformat() for i in (2, 1, 0)]
    job = build_definitions(crm_env).resolve_job_def("receive_range")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), asset_selection=[
        dg.AssetKey(["salesforce", "Contact"])], tags=dict(zip(RANGE_TAGS, (days[0], days[-1]), strict=True)))
    assert result.success
    by_day = {m.partition: {k: v.value for k, v in m.metadata.items()}
              for m in result.asset_materializations_for_node("salesforce__Contact")}
    assert sorted(by_day) == days
    client = make_client(sandbox)
    for day in days:
        end = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        expected = client.count("Contact", f"LastModifiedDate >= {day}T00:00:00Z AND LastModifiedDate < {end}T00:00:00Z",
                                include_deleted=True)
        assert by_day[day]["records_fetched"] == expected, day
        assert by_day[day]["window_start"].startswith(day)
        assert isinstance(by_day[day]["dagster/row_count"], int)
    assert "api_calls" in by_day[days[0]] and "api_calls" not in by_day[days[1]]


def test_full_fetch_is_one_action_that_backfills_every_partition_of_every_receive_asset(crm_env: Settings) -> None:
    defs = build_definitions(crm_env)
    job = defs.resolve_job_def("full_fetch")
    assert job.partitions_def is None  # nothing to pick in the launcher, so nothing to pick wrong
    assert "every partition" in job.description and "no partition to choose" in job.description
    assert "For EVERY partition, launch `full_fetch`" in defs.resolve_job_def("receive_range").description
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance).success
        [backfill] = instance.get_backfills()
    every = set(receive_partitions(crm_env).get_partition_keys())
    target = backfill.asset_backfill_data.target_subset
    assert target.asset_keys == {dg.AssetKey(["salesforce", s.object]) for s in crm_env.receiving_sections()}
    for key in target.asset_keys:
        assert set(target.get_partitions_subset(key).get_partition_keys()) == every, key
    assert backfill.tags["crm_sync/trigger"] == "full_fetch"


@pytest.fixture
def recent_env(crm_env: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """crm_env with partitions from two days ago (the first holding all older history, as in the demo), so a full
    fetch is three partitions per asset rather than one per day since the packaged start."""
    from crm_sync_tests.defs.conftest import write_sections

    start = datetime.now(UTC).date() - timedelta(days=2)
    recent = crm_env.model_copy(update={"defaults": crm_env.defaults.model_copy(
        update={"partition_start_date": start})})
    monkeypatch.setenv("CRM_SYNC_SECTIONS", str(write_sections(recent, tmp_path / "recent.yaml")))
    return recent


def test_full_fetch_then_ticks_fetch_only_what_changed(recent_env: Settings, sandbox) -> None:
    crm_env = recent_env
    instance = dg.DagsterInstance.ephemeral()
    assert _full_fetch(crm_env, instance).success
    with PlatformStore(None, crm_env) as store:
        for section in crm_env.enabled_sections():
            if section.receives:
                assert mismatches(sandbox, store, section) == [], section.object

    defs = build_definitions(crm_env)
    schedule = defs.resolve_schedule_def("receive_every_10_minutes_schedule")
    resources = defs.resources
    repository = defs.get_repository_def()
    before = _api_used(sandbox)
    with dg.build_schedule_context(instance=instance, resources=resources, repository_def=repository,
                                   scheduled_execution_time=datetime.now(UTC)) as context:
        idle = schedule.evaluate_tick(context)
    assert idle.skip_message and "nothing new" in idle.skip_message
    # one composite call per 8 sections (3 sub-requests each: past, late, deleted); logins are not API calls
    assert _api_used(sandbox) - before == math.ceil(3 * len(crm_env.receiving_sections()) / 25)

    account = sandbox.admin.create_record("Account", {"Name": "Tick Test Co"})
    with dg.build_schedule_context(instance=instance, resources=resources, repository_def=repository,
                                   scheduled_execution_time=datetime.now(UTC)) as context:
        busy = schedule.evaluate_tick(context)
    [request] = busy.run_requests
    assert request.asset_selection == [dg.AssetKey(["salesforce", "Account"])]
    assert request.partition_key == datetime.now(UTC).date().isoformat()

    job = defs.resolve_job_def("receive_every_10_minutes")
    run = job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                 asset_selection=request.asset_selection)
    assert run.success
    with PlatformStore(None, crm_env) as store:
        assert store.get_record("Account", salesforce_id=account)["name"] == "Tick Test Co"

    sensor = defs.resolve_sensor_def("salesforce_changes")
    with dg.build_sensor_context(instance=instance, resources=resources, repository_def=repository) as context:
        quiet = sensor.evaluate_tick(context)
    assert not quiet.run_requests and "nothing new" in (quiet.skip_message or "")


def test_the_30_minute_job_switches_the_10_minute_one_off(crm_env: Settings, tmp_path, monkeypatch) -> None:
    from crm_sync_tests.defs.conftest import write_sections

    system = crm_env.model_copy(update={"defaults": crm_env.defaults.model_copy(
        update={"modstamp_field": "SystemModstamp"})})
    monkeypatch.setenv("CRM_SYNC_SECTIONS", str(write_sections(system, tmp_path / "system.yaml")))
    defs = build_definitions(system)
    schedule = defs.resolve_schedule_def("receive_every_10_minutes_schedule")
    with dg.build_schedule_context(instance=dg.DagsterInstance.ephemeral(), resources=defs.resources,
                                   scheduled_execution_time=datetime.now(UTC)) as context:
        answer = schedule.evaluate_tick(context)
    assert "30-minute" in (answer.skip_message or "")
    assert defs.resolve_schedule_def("receive_every_30_minutes_schedule").cron_schedule == "*/30 * * * *"


def test_sync_account_job_brings_the_account_and_its_records(crm_env: Settings, sandbox) -> None:
    sf = sandbox.salesforce()
    account_id = sf.query("SELECT AccountId FROM Contact WHERE AccountId != null LIMIT 1")["records"][0]["AccountId"]
    contacts = {r["Id"] for r in sf.query_all(f"SELECT Id FROM Contact WHERE AccountId = '{account_id}'")["records"]}
    job = build_definitions(crm_env).resolve_job_def("sync_account")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config={
        "ops": {"receive_account": {"config": {"account_id": account_id}}}})
    assert result.success
    with PlatformStore(None, crm_env) as store:
        assert store.get_record("Account", salesforce_id=account_id) is not None
        for contact in contacts:
            assert store.get_record("Contact", salesforce_id=contact) is not None
        assert store.count_records("User") >= 5
        assert store.count_records("Account") == 1  # nothing beyond that account
        assert store.get_cursor("Account", "LastModifiedDate") is None  # sync one account moves no cursor


@pytest.mark.parametrize("problem", ["unknown_field", "unknown_object", "bad_filter", "wrong_password",
                                     "unreachable"])
def test_bad_input_stops_before_fetching_and_moves_no_cursor(problem, sandbox, platform_url, tmp_path) -> None:
    base = fast_settings()
    sections = list(base.sections)
    overrides: dict = {}
    if problem == "unknown_field":
        sections = [s.model_copy(update={"fields": [*s.fields, s.fields[0].model_copy(
            update={"salesforce": "No_Such_Field__c", "column": "no_such"})]}) if s.object == "Account" else s
            for s in sections]
    elif problem == "unknown_object":
        sections = [s.model_copy(update={"object": "Invoice__c"}) if s.object == "Project__c" else s
                    for s in sections]
    elif problem == "bad_filter":
        sections = [s.model_copy(update={"filter": "No_Such_Field__c = 'x'"}) if s.object == "Account" else s
                    for s in sections]
    elif problem == "wrong_password":
        overrides["password"] = "not-the-password"
    else:
        overrides["instance_url"] = "https://127.0.0.1:9"
        overrides["domain"] = "127.0.0.1:9"
    settings = base.model_copy(update={"sections": sections})
    target = "Invoice__c" if problem == "unknown_object" else "Account"
    client = make_client(sandbox, max_attempts=1, **overrides)
    expected = {"unknown_field": (SyncSetupError, "No_Such_Field__c"),
                "unknown_object": (SyncSetupError, "Invoice__c"),
                "bad_filter": (SalesforceApiError, "No_Such_Field__c"),
                "wrong_password": (SalesforceAuthError, "authentication failure"),
                "unreachable": (SalesforceConnectionError, "127.0.0.1:9")}[problem]
    today = datetime.now(UTC).date()
    with PlatformStore(platform_url, settings, landing_root=tmp_path / "landing") as store:
        with pytest.raises(expected[0], match=expected[1]) as raised:
            receive_days(client, store, target, today, today, incremental=False)
        assert "not-the-password" not in str(raised.value)
        assert store.get_cursor(target, "LastModifiedDate") is None
        assert store.count_records(target) == 0
        assert client.api_calls.for_purpose("query") == 0 and client.api_calls.for_purpose("bulk") == 0
