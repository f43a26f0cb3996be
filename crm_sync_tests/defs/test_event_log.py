"""The embedded instance's event log (crm_sync/defs/event_log.py) on real SQLite files in a DAGSTER_HOME."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from crm_sync.defs import event_log
from crm_sync.defs.event_log import OpenSqliteEventLogStorage

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.embedded.yaml").read_text())  # what `make ui` copies
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _run(instance: dg.DagsterInstance) -> DagsterRun:
    run = DagsterRun(job_name="receive_range", run_id=str(uuid.uuid4()))
    instance.add_run(run)
    return run


def test_the_embedded_instance_uses_it_where_dagster_keeps_its_event_log(home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, OpenSqliteEventLogStorage)
        run = _run(instance)
        instance.report_engine_event("one", dagster_run=run)
        assert [e.message for e in instance.all_logs(run.run_id)] == ["one"]
        assert instance.event_log_storage.supports_global_concurrency_limits  # the `salesforce_api` pool needs it
    assert (home / "history" / "runs" / f"{run.run_id}.db").exists()


def test_an_instance_opened_by_folder_without_dagster_home_says_what_to_set(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.ref import InstanceRef

    monkeypatch.delenv("DAGSTER_HOME")
    with pytest.raises(dg.DagsterInvariantViolationError, match="DAGSTER_HOME is not set"):
        dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert isinstance(instance.event_log_storage, OpenSqliteEventLogStorage)


def test_a_watcher_in_another_instance_sees_events_while_the_writer_keeps_its_file_open(home: Path) -> None:
    """`dagster dev` follows a running run by watching its .db file: the writer's open connection must not keep
    the rows in the WAL only."""
    with dg.DagsterInstance.get() as writer, dg.DagsterInstance.get() as reader:
        run = _run(writer)
        writer.report_engine_event("first", dagster_run=run)
        seen: list[str] = []
        arrived = threading.Event()

        def on_event(entry, cursor) -> None:
            seen.append(entry.message)
            if entry.message == "second":
                arrived.set()

        reader.watch_event_logs(run.run_id, None, on_event)
        time.sleep(0.5)  # the observer is watching
        writer.report_engine_event("second", dagster_run=run)
        assert arrived.wait(timeout=10), f"the watcher saw only {seen}"
        assert "second" in seen
        reader.end_watch_event_logs(run.run_id, on_event)


def test_open_files_are_bounded_and_closed_before_a_wipe(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "MAX_OPEN_FILES", 3)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        runs = [_run(instance) for _ in range(5)]
        for run in runs:
            instance.report_engine_event(f"hello {run.run_id}", dagster_run=run)
        assert len(storage._open_engines()) == 3
        assert [e.message for e in instance.all_logs(runs[0].run_id)] == [f"hello {runs[0].run_id}"]
        storage.wipe()
        assert set(storage._open_engines()) <= {"index"}  # the wipe itself clears the index
        assert not (home / "history" / "runs" / f"{runs[0].run_id}.db").exists()
