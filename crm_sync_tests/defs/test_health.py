"""The health checks run by Dagster for real against the sandbox: each fails when its cause is present, passes
when it is not, and the `alerts` sensor posts each cause to a local webhook once, naming the assets (at most once an hour).

The tests of this module share one org, platform database and Dagster instance, and run in file order;
each puts back what it broke. The causes are real: the sandbox removes a mapped field, or rotates (revokes)
its credentials while the environment keeps the old ones.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from crm_sync.definitions import build_definitions
from crm_sync.defs.health import ALERTS_SENSOR, HEALTH_JOB
from crm_sync.platform import PlatformStore
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.settings import load_settings
from crm_sync.sync.health.alerts import WEBHOOK_ENV, AlertCursor, deliver_alerts
from crm_sync.sync.health.checks import CHECK_NAMES, NEEDS_SALESFORCE
from crm_sync.sync.receive_run import receive_days
from crm_sync_tests.sync.health.helpers import (
    HealthOrg,
    Webhook,
    environment,
    health_org,
    receive_everything,
    webhook_receiver,
)


@dataclass
class Harness:
    org: HealthOrg
    defs: dg.Definitions
    instance: dg.DagsterInstance
    hook: Webhook
    store: PlatformStore
    env: pytest.MonkeyPatch  # the module's environment (SALESFORCE_*, webhook); undone at the module's end
    cursor: str | None = None

    def run_checks(self) -> dg.ExecuteInProcessResult:
        return self.defs.get_job_def(HEALTH_JOB).execute_in_process(instance=self.instance)

    def tick_alerts(self) -> list[dict]:
        """One evaluation of the alerts sensor; the posts it made."""
        sensor = self.defs.get_sensor_def(ALERTS_SENSOR)
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs)
        result = sensor.evaluate_tick(context)
        self.cursor = result.cursor or self.cursor
        return self.hook.take()

    def use_credentials(self, info: SandboxInfo) -> None:
        """Point the environment (and the org's env) at these sandbox credentials, for the rest of the module."""
        self.org.info = info
        self.org.env.update(info.env())
        for name, value in info.env().items():
            self.env.setenv(name, value)


def failures(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], str]:
    """(object, check) -> severity of every failed check evaluation of a run."""
    return {(e.asset_key.path[-1], e.check_name): e.severity.value
            for e in result.get_asset_check_evaluations() if not e.passed}


def posted(posts: list[dict]) -> list[tuple[str, list[str]]]:
    """(cause, objects named) of each alert: `crm_sync failing: <cause> on ...` and its `Assets:` line."""
    found = []
    for post in posts:
        lines = post["text"].splitlines()
        cause = lines[0].split(": ", 1)[1].rsplit(" on ", 1)[0]
        assets = next((line.removeprefix("Assets: ").split(", ") for line in lines if line.startswith("Assets: ")), [])
        found.append((cause, [a.split("/")[-1] for a in assets]))
    return found


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with tempfile.TemporaryDirectory(prefix="crm-health-") as tmp, health_org(Path(tmp)) as org, \
            webhook_receiver() as hook, environment({**org.env, WEBHOOK_ENV: hook.url}) as env, \
            dg.DagsterInstance.local_temp(tmp) as instance:
        settings = load_settings()
        defs = build_definitions(settings)
        store = org.store(settings)
        receive_everything(org, store)
        yield Harness(org, defs, instance, hook, store, env)
        store.close()


def test_every_check_passes_on_a_healthy_sync_and_nothing_is_posted(harness: Harness) -> None:
    result = harness.run_checks()
    evaluations = result.get_asset_check_evaluations()
    receiving = [s.object for s in harness.store.settings.enabled_sections() if s.receives]
    assert {(e.asset_key.path[-1], e.check_name) for e in evaluations} == {
        (obj, name) for obj in receiving for name in CHECK_NAMES}
    assert failures(result) == {}
    assert harness.tick_alerts() == []
    logged = harness.store.read_log(event="health_check", run_id=result.run_id)
    assert len(logged) == len(evaluations)
    assert all(row.details["passed"] for row in logged)


def test_api_quota_fails_under_ten_percent_and_warns_under_twenty_five(harness: Harness) -> None:
    admin = harness.org.info.admin
    receiving = {s.object for s in harness.store.settings.enabled_sections() if s.receives}
    try:
        admin.set_limits(daily_api_requests=1000, used=950)
        result = harness.run_checks()
        assert failures(result) == {(obj, "api_quota"): "ERROR" for obj in receiving}
        posts = harness.tick_alerts()  # one alert for the one cause, naming every asset
        assert posted(posts) == [("api_quota", sorted(receiving))]
        assert "/runs/" + result.run_id in posts[0]["text"]

        admin.set_limits(used=800)
        result = harness.run_checks()
        assert failures(result) == {(obj, "api_quota"): "WARN" for obj in receiving}
        assert posted(harness.tick_alerts()) == [("api_quota (WARN)", sorted(receiving))]
    finally:
        admin.set_limits(daily_api_requests=5_000_000, used=0)
    assert failures(harness.run_checks()) == {}
    assert harness.tick_alerts() == []


def test_staleness_fails_when_the_last_receive_is_older_than_twice_the_interval(harness: Harness) -> None:
    store = harness.store
    log = store.schema.sync_log
    with store.engine.begin() as conn:  # the last receive of Asset happened 25 minutes ago (10-minute job)
        for row in conn.execute(sa.select(log.c.id, log.c.at).where(log.c.section == "Asset")).all():
            conn.execute(log.update().where(log.c.id == row.id).values(at=row.at - timedelta(minutes=25)))
    result = harness.run_checks()
    assert failures(result) == {("Asset", "staleness"): "ERROR"}
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "staleness"
                      and e.asset_key.path[-1] == "Asset")
    assert evaluation.metadata["allowed_minutes"].value == 20
    assert posted(harness.tick_alerts()) == [("staleness", ["Asset"])]
    assert harness.tick_alerts() == []

    today = datetime.now(UTC).date()
    receive_days(harness.org.client(), store, "Asset", today, today, incremental=True)
    assert failures(harness.run_checks()) == {}
    assert harness.tick_alerts() == []


def test_a_tick_that_found_nothing_new_counts_as_a_sync_for_staleness(harness: Harness) -> None:
    store = harness.store
    log = store.schema.sync_log
    with store.engine.begin() as conn:  # Note's last receive was 25 minutes ago; nothing changed in Salesforce since
        for row in conn.execute(sa.select(log.c.id, log.c.at).where(log.c.section == "Note")).all():
            conn.execute(log.update().where(log.c.id == row.id).values(at=row.at - timedelta(minutes=25)))
    assert failures(harness.run_checks()) == {("Note", "staleness"): "ERROR"}
    assert harness.tick_alerts() == []  # staleness was alerted (for Asset) within the hour: held, not posted

    schedule = harness.defs.get_schedule_def("receive_every_10_minutes_schedule")
    with dg.build_schedule_context(instance=harness.instance, resources=harness.defs.resources,
                                   repository_def=harness.defs.get_repository_def(),
                                   scheduled_execution_time=datetime.now(UTC)) as context:
        tick = schedule.evaluate_tick(context)
    assert dg.AssetKey(["salesforce", "Note"]) not in {k for r in tick.run_requests for k in r.asset_selection}
    [checked] = [e for e in store.read_log("Note", event="sync_completed", limit=1, newest=True)]
    assert (checked.count, checked.details["checked_only"]) == (0, True)
    assert failures(harness.run_checks()) == {}
    assert harness.tick_alerts() == []


def test_reconciliation_names_the_partition_of_a_row_removed_behind_the_syncs_back(harness: Harness) -> None:
    store = harness.store
    table = store.table("Contact")
    with store.engine.begin() as conn:
        victim = conn.execute(sa.select(table.c.salesforce_id, table.c.sf_last_modified)
                              .where(table.c.deleted.is_(sa.false())).order_by(table.c.id).limit(1)).one()
        conn.execute(table.delete().where(table.c.salesforce_id == victim.salesforce_id))
    day = victim.sf_last_modified.astimezone(UTC).date().isoformat()

    result = harness.run_checks()
    assert failures(result) == {("Contact", "reconciliation"): "ERROR"}
    evaluation = next(e for e in result.get_asset_check_evaluations()
                      if e.check_name == "reconciliation" and e.asset_key.path[-1] == "Contact")
    assert evaluation.metadata["differing_partitions"].value == day
    assert evaluation.metadata["salesforce_count"].value == evaluation.metadata["platform_count"].value + 1
    assert posted(harness.tick_alerts()) == [("reconciliation", ["Contact"])]

    # backfilling just that partition repairs it; the checks of the materialized asset run in the same run
    repair = harness.defs.get_job_def("receive_range").execute_in_process(
        instance=harness.instance, partition_key=day, asset_selection=[dg.AssetKey(["salesforce", "Contact"])])
    assert repair.success
    assert store.get_record("Contact", salesforce_id=victim.salesforce_id) is not None
    assert failures(repair) == {}
    assert any(e.check_name == "reconciliation" and e.passed for e in repair.get_asset_check_evaluations())
    assert harness.tick_alerts() == []


def test_field_mappings_fails_for_a_mapped_field_removed_from_the_org(harness: Harness) -> None:
    admin = harness.org.info.admin
    assert any(f.salesforce == "Health_Score__c" for f in harness.store.settings.section("Account").fields)
    admin.hide_field("Account", "Health_Score__c")  # an admin deletes the custom field
    try:
        result = harness.run_checks()
    finally:
        admin.restore_field("Account", "Health_Score__c")
    assert failures(result) == {("Account", "field_mappings"): "ERROR"}
    evaluation = next(e for e in result.get_asset_check_evaluations()
                      if e.check_name == "field_mappings" and e.asset_key.path[-1] == "Account")
    assert "Health_Score__c" in evaluation.metadata["problem_list"].value
    assert posted(harness.tick_alerts()) == [("field_mappings", ["Account"])]
    assert failures(harness.run_checks()) == {}
    assert harness.tick_alerts() == []


def test_revoked_credentials_make_one_alert_an_hour_and_skip_the_checks_that_need_salesforce(
        harness: Harness) -> None:
    receiving = sorted(s.object for s in harness.store.settings.enabled_sections() if s.receives)
    rotated = harness.org.info.admin.rotate_credentials()  # the environment keeps the old secrets
    try:
        result = harness.run_checks()
        today = datetime.now(UTC).date().isoformat()
        failed_run = harness.defs.get_job_def("receive_range").execute_in_process(
            instance=harness.instance, partition_key=today, asset_selection=[dg.AssetKey(["salesforce", "User"])],
            raise_on_error=False)
        assert not failed_run.success
        posts = harness.tick_alerts()
        again = harness.run_checks()
        assert harness.tick_alerts() == []  # the same cause within the hour: held
    finally:
        harness.use_credentials(rotated)

    # credentials fails everywhere; what needs Salesforce is Skipped (planned, never evaluated); staleness runs
    assert failures(result) == {(obj, "credentials"): "ERROR" for obj in receiving}
    latest = harness.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey(["salesforce", obj]), name) for obj in receiving for name in CHECK_NAMES])
    for key, record in latest.items():
        if key.name in NEEDS_SALESFORCE:
            assert (record.run_id, record.status) == (again.run_id, AssetCheckExecutionRecordStatus.PLANNED), key
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name == "staleness")
    skipped = [r for r in harness.store.read_log(event="health_check", run_id=result.run_id) if r.details["skipped"]]
    assert {(r.section, r.details["check"]) for r in skipped} == {
        (obj, name) for obj in receiving for name in NEEDS_SALESFORCE}
    assert all(r.details["cause"] == "credentials" for r in skipped)

    # one alert for the one cause: every asset, and the run that failed on the login
    assert posted(posts) == [("credentials", receiving)], [p["text"] for p in posts]
    [alert] = posts
    assert "1 failed run(s)" in alert["text"].splitlines()[0] and failed_run.run_id[:8] in alert["text"]

    # an hour later the held evaluation is posted once, as still failing
    cursor = AlertCursor.decode(harness.cursor)
    delivered, cursor = deliver_alerts(harness.instance, list(harness.defs.get_repository_def().asset_checks_defs_by_key),
                                       cursor, webhook_url=harness.hook.url,
                                       now=datetime.now(UTC) + timedelta(minutes=61))
    harness.cursor = cursor.encode()
    [later] = [a for a in delivered if a.cause == "credentials"]  # (other held causes go out with it)
    assert later.title.startswith("crm_sync still failing: credentials on")
    assert sorted(a.split("/")[-1] for a in later.assets) == receiving and again.run_id == later.run_id
    harness.hook.take()

    assert failures(harness.run_checks()) == {}
    assert harness.tick_alerts() == []
