"""Parallel runs on one Postgres, as on Kubernetes: a Dagster instance stored in Postgres, one code server
(`dagster api grpc`, the user deployment) and a real `dagster-daemon` launching every queued run in its own
process, all writing into one Postgres platform database.

Receive runs for several objects start at once and the `salesforce_api` pool (limit 2, dagster.postgres.yaml)
bounds how many steps call Salesforce at a time; two push runs claim and push the outbox side by side. Each
ends with every count equal and every run successful (a deadlock would fail a run).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from dagster._cli import cli as dagster_cli  # the `dagster` command group, run in this process

from crm_sync.definitions import build_definitions
from crm_sync.defs.receive_assets import op_name
from crm_sync.defs.send import PUSH_CHANGES, PUSH_CHANGES_OP
from crm_sync.platform import PlatformStore
from crm_sync.salesforce import soql
from crm_sync.settings import load_settings
from crm_sync.sync.send import edit_record
from crm_sync_tests.conftest import fresh_postgres_database
from crm_sync_tests.defs.conftest import write_sections
from crm_sync_tests.defs.test_postgres_instance import _instance_env, stop
from crm_sync_tests.sync.conftest import fast_settings, make_client
from crm_sync_tests.sync.send.conftest import receive_ids, sf_records, some_ids

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUNS_TIMEOUT_S = 300
LOCATION = "crm_sync"
RECEIVED_OBJECTS = ("User", "Account", "Contact", "Task", "Case")
PUSHED_RECORDS = 40
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}  # one step a run: the run's own process runs it


@pytest.fixture
def platform_database() -> Iterator[str]:
    """A second fresh Postgres database (the instance has its own): the platform store of every run."""
    with fresh_postgres_database("crm_sync_platform") as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dagster(*args: str) -> None:
    result = CliRunner().invoke(dagster_cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output[-3000:]


@contextlib.contextmanager
def deployment(sandbox, postgres_url: str, platform_url: str, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The environment of every pod, a running code server, and the workspace file that names it.

    Sensors and schedules that are on by default are stopped first, so only the test's runs are launched.
    """
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = _instance_env(postgres_url, home)
    crm = {"CRM_SYNC_PLATFORM_URL": platform_url, "CRM_SYNC_DATA": str(tmp_path / "data"),
           "CRM_SYNC_SECTIONS": str(write_sections(fast_settings(), tmp_path / "sections.yaml")),
           "CRM_SYNC_KEY_NAMESPACE": f"t{uuid.uuid4().hex[:10]}", **sandbox.env()}
    env.update(crm)
    for name, value in env.items():
        if name.startswith(("DAGSTER_", "CRM_SYNC_", "SALESFORCE_")):
            monkeypatch.setenv(name, value)
    port = _free_port()
    server = subprocess.Popen([str(BIN / "dagster"), "api", "grpc", "-m", "crm_sync.definitions", "-h", "127.0.0.1",
                               "-p", str(port), "--location-name", LOCATION], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "the code server exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, "the code server did not start"
            time.sleep(0.2)
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [
            {"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": LOCATION}}]}))
        defs = build_definitions(load_settings())
        for sensor in defs.sensors or []:
            if sensor.default_status == dg.DefaultSensorStatus.RUNNING:
                _dagster("sensor", "stop", sensor.name, "-w", str(workspace))
        for schedule in defs.schedules or []:
            if schedule.default_status == dg.DefaultScheduleStatus.RUNNING:
                _dagster("schedule", "stop", schedule.name, "-w", str(workspace))
        yield workspace
    finally:
        stop(server)


def run_queue_with_daemon(instance: dg.DagsterInstance, workspace: Path, run_ids: Sequence[str]) -> list[dg.DagsterRun]:
    """Start `dagster-daemon` over the queued runs and wait until every one of them has finished."""
    assert {instance.get_run_by_id(r).status for r in run_ids} == {dg.DagsterRunStatus.QUEUED}
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], cwd=workspace.parent,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + RUNS_TIMEOUT_S
        while True:
            runs = [instance.get_run_by_id(r) for r in run_ids]
            if all(run.is_finished for run in runs) or time.monotonic() > deadline:
                return runs
            time.sleep(1)
    finally:
        stop(daemon)


def _intervals(instance: dg.DagsterInstance, run_id: str, start: dg.DagsterEventType,
               ends: set[dg.DagsterEventType]) -> list[tuple[float, float]]:
    """(start, end) times of the run (RUN_*) or of each of its steps (STEP_*), from the event log."""
    opened: dict[str | None, float] = {}
    spans = []
    for entry in instance.all_logs(run_id, of_type={start, *ends}):
        key = entry.dagster_event.step_key
        if entry.dagster_event.event_type == start:
            opened[key] = entry.timestamp
        elif key in opened:
            spans.append((opened.pop(key), entry.timestamp))
    return spans


def most_at_once(spans: Sequence[tuple[float, float]]) -> int:
    """The largest number of spans open at the same moment."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])  # an end sorts before a start
    best = current = 0
    for _, change in edges:
        current += change
        best = max(best, current)
    return best


def _runs_at_once(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> int:
    return most_at_once([span for r in run_ids for span in _intervals(
        instance, r, dg.DagsterEventType.RUN_START, {dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE})])


def _pool_limit() -> int:
    return yaml.safe_load((REPO / "dagster.postgres.yaml").read_text())["concurrency"]["pools"]["default_limit"]


def test_receive_runs_for_several_objects_at_once_share_the_pool(sandbox, postgres_url, platform_database,
                                                                  tmp_path, monkeypatch) -> None:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=1)
    tags = json.dumps({"dagster/asset_partition_range_start": first.isoformat(),
                       "dagster/asset_partition_range_end": today.isoformat()})
    settings = fast_settings()
    with deployment(sandbox, postgres_url, platform_database, tmp_path, monkeypatch) as workspace, \
            dg.DagsterInstance.get() as instance:
        for obj in RECEIVED_OBJECTS:
            _dagster("job", "launch", "-w", str(workspace), "-j", "receive_range", "-o", op_name(settings.section(obj)),
                     "--tags", tags, "--config-json", json.dumps(IN_PROCESS))
        run_ids = [run.run_id for run in instance.get_runs()]
        assert len(run_ids) == len(RECEIVED_OBJECTS)
        runs = run_queue_with_daemon(instance, workspace, run_ids)
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] * len(runs)

        steps = [span for r in run_ids for span in _intervals(
            instance, r, dg.DagsterEventType.STEP_START,
            {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE})]
        assert len(steps) == len(RECEIVED_OBJECTS)  # one step a run: the op selection held
        assert most_at_once(steps) == _pool_limit() == 2  # the pool's slots were all taken, never more
        assert _runs_at_once(instance, run_ids) >= 2  # the runs really ran side by side, each its own process
        assert instance.event_log_storage.get_concurrency_info("salesforce_api").slot_count == 2

    client = make_client(sandbox)
    since = f"LastModifiedDate >= {first.isoformat()}T00:00:00Z"
    with PlatformStore(platform_database, load_settings()) as store:
        for section in store.settings.enabled_sections():
            if section.receives:
                expected = client.count(section.object, since) if section.object in RECEIVED_OBJECTS else 0
                assert store.count_records(section, include_deleted=False) == expected, section.object
        with store.engine.connect() as conn:
            log = store.schema.sync_log
            failed = conn.execute(sa.select(sa.func.count()).select_from(log).where(log.c.event == "sync_failed"))
            assert failed.scalar_one() == 0


def test_two_push_runs_claim_and_push_the_outbox_side_by_side(sandbox, postgres_url, platform_database,
                                                               tmp_path, monkeypatch) -> None:
    marker = f"parallel push {uuid.uuid4().hex[:8]}"
    with deployment(sandbox, postgres_url, platform_database, tmp_path, monkeypatch) as workspace, \
            dg.DagsterInstance.get() as instance:
        client = make_client(sandbox)
        ids = some_ids(client, "Account", PUSHED_RECORDS)
        with PlatformStore(platform_database, load_settings()) as store:
            receive_ids(client, store, "Account", ids)
            for salesforce_id in ids:
                row = store.get_record("company", salesforce_id=salesforce_id)["id"]
                edit_record(store, "company", {"description": f"{marker} {salesforce_id}"},
                            actor="user:ana@example.com", record_id=row)
            assert len(store.outbox_entries("company")) == PUSHED_RECORDS

        half = {"ops": {PUSH_CHANGES_OP: {"config": {"limit": PUSHED_RECORDS // 2}}}}
        for _ in range(2):  # each run claims its own half of the outbox when it starts
            _dagster("job", "launch", "-w", str(workspace), "-j", PUSH_CHANGES, "--config-json", json.dumps(half))
        run_ids = [run.run_id for run in instance.get_runs()]
        # every Salesforce answer takes a second: a push of its half lasts longer than the daemon needs to
        # start the other run, so the two overlap however fast the push itself has become
        sandbox.admin.set_faults(latency_ms=1000)
        try:
            runs = run_queue_with_daemon(instance, workspace, run_ids)
        finally:
            sandbox.admin.clear_faults()
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
        sent = [entry.dagster_event.step_output_data.metadata["records_sent"].value
                for r in run_ids for entry in instance.all_logs(r, of_type=dg.DagsterEventType.STEP_OUTPUT)]
        assert sent == [PUSHED_RECORDS // 2] * 2  # disjoint claims: each record pushed by exactly one run
        assert _runs_at_once(instance, run_ids) == 2

    with PlatformStore(platform_database, load_settings()) as store:
        assert store.outbox_entries() == []
    pushed = {r["Id"]: r["Description"] for r in sf_records(client, "Account", soql.id_in(ids), "Id, Description")}
    assert pushed == {salesforce_id: f"{marker} {salesforce_id}" for salesforce_id in ids}
