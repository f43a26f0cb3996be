"""The receive flow on a Dagster instance stored in Postgres (dagster-postgres), the run queued by
`dagster job launch` and dequeued and launched by a real `dagster-daemon`, as in production."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.settings import load_settings
from crm_sync_tests.defs.conftest import write_sections
from crm_sync_tests.sync.conftest import fast_settings, make_client

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 240
# The run's own process runs every step: the multiprocess executor's one process per step (nine receive assets)
# cost this test two minutes of process starts under load, and what it is about is the queue and the daemon.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def _instance_env(postgres_url: str, home: Path) -> dict[str, str]:
    url = sa.engine.make_url(postgres_url)
    shutil.copy(REPO / "dagster.postgres.yaml", home / "dagster.yaml")
    return {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": url.host, "DAGSTER_PG_PORT": str(url.port),
            "DAGSTER_PG_DB": url.database, "DAGSTER_PG_USER": url.username,
            "DAGSTER_PG_PASSWORD": "trust-auth-ignores-it"}


def stop(process: subprocess.Popen, grace_s: float = 5) -> None:
    """SIGTERM, then SIGKILL after `grace_s`: under load `dagster api grpc` and `dagster-daemon` may ignore
    SIGTERM for minutes, and a test's teardown must not wait for that."""
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def test_daemon_launches_a_queued_receive_run_on_a_postgres_instance(sandbox, postgres_url, request, tmp_path,
                                                                    monkeypatch) -> None:
    platform_url = request.getfixturevalue("postgres_url")  # a second database: the platform store
    monkeypatch.setenv("CRM_SYNC_PLATFORM_URL", platform_url)
    monkeypatch.setenv("CRM_SYNC_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_SYNC_SECTIONS", str(write_sections(fast_settings(), tmp_path / "sections.yaml")))
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = _instance_env(postgres_url, home)
    for name, value in env.items():
        if name.startswith("DAGSTER_"):
            monkeypatch.setenv(name, value)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=1)
    tags = {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": today.isoformat()}
    launch = subprocess.run([str(BIN / "dagster"), "job", "launch", "-m", "crm_sync.definitions", "-j", "receive_range",
                             "--tags", json.dumps(tags), "--config-json", json.dumps(IN_PROCESS)], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=180)
    assert launch.returncode == 0, launch.stderr[-3000:]

    with dg.DagsterInstance.get() as instance:
        [queued] = instance.get_runs()
        assert queued.status == dg.DagsterRunStatus.QUEUED  # the QueuedRunCoordinator holds it for the daemon
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-m", "crm_sync.definitions"], env=env,
                                  cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            run = queued
            while time.monotonic() < deadline and not run.is_finished:
                time.sleep(1)
                run = instance.get_run_by_id(queued.run_id)
        finally:
            stop(daemon)
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
        assert instance.get_latest_materialization_event(dg.AssetKey(["salesforce", "Case"])) is not None

    client = make_client(sandbox)
    since = f"LastModifiedDate >= {first.isoformat()}T00:00:00Z"
    with PlatformStore(platform_url, load_settings()) as store:
        for section in store.settings.enabled_sections():
            if section.receives:
                live = client.count(section.object, since)
                assert store.count_records(section, include_deleted=False) == live, section.object
