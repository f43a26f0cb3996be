"""The send side in Dagster for real: the platform_outbox sensor evaluated, the jobs executed in process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from crm_sync.definitions import build_definitions
from crm_sync.defs.resources import PlatformResource
from crm_sync.defs.send import FOLLOW_TAG, SENSOR_NAME, STALE_SECONDS
from crm_sync.platform import PlatformStore
from crm_sync.salesforce import SalesforceClient
from crm_sync.salesforce.resource import SalesforceResource
from crm_sync.settings import Settings
from crm_sync.sync.send import edit_record
from crm_sync_tests.sync.send import conftest as send_fixtures
from crm_sync_tests.sync.send.conftest import receive_ids, settings_with, sf_records, some_ids

# The send tests' fixtures (one small sandbox org, a store on SQLite and Postgres, a client), used here too.
send_sandbox = send_fixtures.send_sandbox
admin = send_fixtures.admin
client = send_fixtures.client
store = send_fixtures.store
marker = send_fixtures.marker
key_namespace = send_fixtures.key_namespace


@pytest.fixture(scope="module")
def settings() -> Settings:
    # a launched push_changes run polls the outbox until idle this long (a second here, not two minutes)
    return settings_with(lambda data: data["defaults"].update(push_follow_idle_seconds=1))


@pytest.fixture(scope="module")
def defs(settings: Settings) -> dg.Definitions:
    return build_definitions(settings)


@pytest.fixture
def resources(platform_url: str, send_sandbox, monkeypatch: pytest.MonkeyPatch) -> dict:
    for key, value in send_sandbox.env().items():
        monkeypatch.setenv(key, value)
    return {"platform": PlatformResource(url=platform_url), "salesforce": SalesforceResource(retry_base_delay=0.01)}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def _evaluate(defs: dg.Definitions, instance: dg.DagsterInstance, resources: dict):
    sensor = defs.get_sensor_def(SENSOR_NAME)
    with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
        return sensor(context)


def test_sensor_launches_push_changes_for_a_user_edit_and_skips_a_system_one(
        defs: dg.Definitions, resources: dict, instance: dg.DagsterInstance, client: SalesforceClient,
        store: PlatformStore, marker: str) -> None:
    ids = some_ids(client, "Account", 2)
    receive_ids(client, store, "Account", ids)
    user_row = store.get_record("company", salesforce_id=ids[0])["id"]
    system_row = store.get_record("company", salesforce_id=ids[1])["id"]
    edit_record(store, "company", {"description": f"system {marker}"}, actor="system", record_id=system_row)

    assert isinstance(_evaluate(defs, instance, resources), dg.SkipReason)

    edit_record(store, "company", {"description": f"user {marker}"}, actor="user:ana@example.com", record_id=user_row)
    request = _evaluate(defs, instance, resources)
    assert isinstance(request, dg.RunRequest) and request.run_key
    assert request.tags["crm_sync/records"] == "1"
    assert isinstance(_evaluate(defs, instance, resources), dg.SkipReason)  # claimed: not launched twice

    result = defs.get_job_def("push_changes").execute_in_process(run_config=request.run_config, instance=instance,
                                                                  resources=resources)
    assert result.success
    assert sf_records(client, "Account", f"Id = '{ids[0]}'", "Description")[0]["Description"] == f"user {marker}"
    assert sf_records(client, "Account", f"Id = '{ids[1]}'", "Description")[0]["Description"] != f"system {marker}"
    assert store.outbox_entries() == []

    nightly = defs.get_job_def("nightly_push").execute_in_process(instance=instance, resources=resources)
    assert nightly.success
    assert sf_records(client, "Account", f"Id = '{ids[1]}'", "Description")[0]["Description"] == f"system {marker}"


def test_the_sensor_leaves_fresh_rows_to_a_polling_run_and_claims_stale_ones(
        defs: dg.Definitions, resources: dict, instance: dg.DagsterInstance, client: SalesforceClient,
        store: PlatformStore, marker: str) -> None:
    ids = some_ids(client, "Account", 1)
    receive_ids(client, store, "Account", ids)
    record = store.get_record("company", salesforce_id=ids[0])["id"]
    follower = dg.DagsterRun(job_name="push_changes", run_id=uuid.uuid4().hex, status=dg.DagsterRunStatus.STARTED,
                             tags={FOLLOW_TAG: "true"})
    instance.add_run(follower)
    edit_record(store, "company", {"description": f"fresh {marker}"}, actor="user:ana@example.com", record_id=record)

    skipped = _evaluate(defs, instance, resources)
    assert isinstance(skipped, dg.SkipReason) and "polling" in (skipped.skip_message or "")
    assert store.outbox_entries()[0].claim_token is None  # left for the polling run to claim

    outbox = store.schema.outbox  # the row has waited longer than a polling run would let it
    with store.engine.begin() as conn:
        conn.execute(outbox.update().values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=STALE_SECONDS + 5)))
    request = _evaluate(defs, instance, resources)
    assert isinstance(request, dg.RunRequest) and request.tags[FOLLOW_TAG] == "true"
    assert request.run_config["ops"]["push_outbox_changes"]["config"]["follow_idle_seconds"] == 1

    instance.report_run_canceled(follower)  # no polling run any more: a fresh row is claimed at once
    edit_record(store, "company", {"description": f"again {marker}"}, actor="user:ana@example.com", record_id=record)
    store.release_outbox([e.id for e in store.outbox_entries()], request.run_key, retry_at=datetime.now(UTC))
    assert isinstance(_evaluate(defs, instance, resources), dg.RunRequest)


def test_push_model_jobs_and_the_nightly_schedule(defs: dg.Definitions, resources: dict,
                                                  instance: dg.DagsterInstance, store: PlatformStore,
                                                  client: SalesforceClient, marker: str) -> None:
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"push_changes", "nightly_push", "push_company", "push_end_user", "push_note", "push_task"} <= names
    assert "push_license" not in names  # receive-only sections have no push job
    schedule = defs.get_schedule_def("nightly_push_schedule")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "UTC"

    new = edit_record(store, "end_user", {"last_name": f"Job {marker}", "email": f"job.{marker}@example.com"},
                      actor="system")
    result = defs.get_job_def("push_end_user").execute_in_process(instance=instance, resources=resources)
    assert result.success
    row = store.get_record("end_user", record_id=new)
    assert row["sync_status"] == "ok" and sf_records(client, "Contact", f"Id = '{row['salesforce_id']}'")


def test_sensor_on_a_fresh_platform_database_skips_and_says_why(
        defs: dg.Definitions, instance: dg.DagsterInstance, tmp_path) -> None:
    """`make ui` before any receive: the database has no crm_sync tables yet, which is no error."""
    resources = {"platform": PlatformResource(url=f"sqlite:///{tmp_path / 'fresh.db'}")}
    result = _evaluate(defs, instance, resources)
    assert isinstance(result, dg.SkipReason)
    assert "no crm_sync tables yet" in result.skip_message
