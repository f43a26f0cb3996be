"""Benchmark of the send side against the local sandbox, platform on SQLite.

1. Throughput: N user-changed platform records (new companies, inserted by plain SQL with origin 'user'
   so the triggers capture them) pushed once over REST (claims of `push_bulk_threshold` rows: sObject
   Collections by 200) and once over Bulk API 2.0 ingest (one claim of all rows). Reports API calls per
   200 records and records/s for each, the seconds of each stage (outbox claim, record claims, check,
   write, ack) and the CPU per record of crm_sync's process and of the sandbox, with the rate those costs
   allow on this machine's cores at best.
2. Latency: >= 50 single user edits at random moments; latency = edit to the moment the new value is read
   back from the sandbox; p50 and p95, and where the seconds go (from the platform's sync log and, under
   the daemon, the Dagster run records): sensor tick, run launch, run start, poll + claim, the push's
   stages (claim, check, write, ack) and the read back. Two modes:
   - `loop`: the `platform_outbox` sensor evaluated in a loop every `push_interval_seconds` (10 s, the
     issue's default), each RunRequest executed in process (no run launch overhead);
   - `daemon`: a real `dagster-daemon run` (instance from the repo's dagster.embedded.yaml in a temporary
     DAGSTER_HOME) ticking the sensor and launching each push_changes run in its own process; a run the
     sensor launched keeps polling the outbox until idle (`push_follow_idle_seconds`).

    python bench/push.py                       # 100,000 records, 50 edits under the daemon
    python bench/push.py --records 5000 --latency none   # quick
    python bench/push.py --records 0 --latency daemon
Writes bench/results/push.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cpu_accounting import own_cpu_seconds, process_cpu_seconds  # noqa: E402

from crm_sync.platform import PlatformStore  # noqa: E402
from crm_sync.salesforce import SalesforceClient, SalesforceConfig  # noqa: E402
from crm_sync.sandbox.process import running_sandbox  # noqa: E402
from crm_sync.settings import default_sections_path  # noqa: E402
from crm_sync.settings.loader import settings_from_data  # noqa: E402
from crm_sync.sync.send import push_changes  # noqa: E402
from crm_sync.sync.send.outbox_batches import claim_batch  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "push.json"


def settings(push_interval_seconds: int = 10):
    data = yaml.safe_load(default_sections_path().read_text(encoding="utf-8"))
    data["defaults"]["push_interval_seconds"] = push_interval_seconds
    return settings_from_data(data)


def insert_user_changes(store: PlatformStore, count: int, tag: str) -> None:
    """`count` new companies written by plain SQL with origin 'user' (captured by the triggers)."""
    table = store.table("company")
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        for start in range(0, count, 5000):
            conn.execute(table.insert(), [
                {"name": f"{tag} company {i}", "industry": "Technology", "employees": i % 5000,
                 "city": "Berlin", "origin": "user", "updated_at": now}
                for i in range(start, min(count, start + 5000))])


def throughput(client: SalesforceClient, store: PlatformStore, count: int, api: str, sandbox_pid: int) -> dict:
    tag = f"{api}-{int(time.time())}"
    insert_user_changes(store, count, tag)
    calls_before, snapshot = client.api_calls.total, client.api_calls.snapshot()
    cpu_before, sandbox_before = own_cpu_seconds(), process_cpu_seconds(sandbox_pid)
    started = time.monotonic()
    sent = failed = 0
    stages: dict[str, float] = {"outbox_claim": 0.0}
    limit = store.settings.defaults.push_bulk_threshold if api == "rest" else count
    while True:
        claimed = time.monotonic()
        batch = claim_batch(store, limit=limit)
        stages["outbox_claim"] += time.monotonic() - claimed
        if batch.empty:
            break
        result = push_changes(client, store, batch=batch)
        sent += result.sent
        failed += result.failed
        for stage, seconds in result.stages.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    seconds = time.monotonic() - started
    calls = client.api_calls.total - calls_before
    return {"api": api, "records": count, "sent": sent, "failed": failed, "seconds": round(seconds, 2),
            "records_per_second": round(sent / seconds, 1), "api_calls": calls,
            "api_calls_per_200_records": round(calls / (count / 200), 3),
            "api_calls_per_100k_records": round(calls / (count / 100_000), 1),
            "api_calls_by_purpose": (client.api_calls.snapshot() - snapshot).by_purpose,
            "stage_seconds": {stage: round(s, 2) for stage, s in stages.items()},
            **cpu_figures(count, own_cpu_seconds() - cpu_before, process_cpu_seconds(sandbox_pid) - sandbox_before)}


def cpu_figures(records: int, client_seconds: float, sandbox_seconds: float) -> dict:
    """CPU per record of crm_sync's process (every thread, the platform's SQLite included) and of the
    sandbox, and the rate this machine's cores would allow at those costs with perfect overlap: the floor
    under the push's time, whatever the concurrency."""
    cores = os.cpu_count() or 1
    floor = (client_seconds + sandbox_seconds) / cores
    return {"client_cpu_seconds": round(client_seconds, 2), "sandbox_cpu_seconds": round(sandbox_seconds, 2),
            "client_cpu_us_per_record": round(client_seconds / records * 1e6),
            "sandbox_cpu_us_per_record": round(sandbox_seconds / records * 1e6),
            "cores": cores, "records_per_second_at_cpu_floor": round(records / floor) if floor else None}


def _summary(samples: list[float], edits: int, interval: int, mode: str) -> dict:
    ordered = sorted(samples)
    if not ordered:
        return {"edits": 0, "mode": mode}
    return {"edits": edits, "sensor_interval_seconds": interval, "mode": mode,
            "p50_seconds": round(statistics.median(ordered), 2),
            "p95_seconds": round(ordered[max(0, int(round(0.95 * len(ordered))) - 1)], 2),
            "max_seconds": round(ordered[-1], 2), "samples": [round(s, 2) for s in samples]}


def _edit_and_wait(client: SalesforceClient, store: PlatformStore, edits: int, interval: int
                   ) -> list[tuple[datetime, float]]:
    """Edit one linked company as a user `edits` times; (when, seconds until the value is in Salesforce)."""
    account = next(iter(client.query_records("SELECT Id, Name FROM Account ORDER BY Id LIMIT 1")))
    row = store.get_record("company", salesforce_id=account["Id"])
    record_id = row["id"] if row else store.write_record(
        "company", {"name": account["Name"], "salesforce_id": account["Id"]}, origin="salesforce")
    rng = random.Random(5)
    samples = []
    for n in range(edits):
        time.sleep(rng.uniform(0.5, interval))
        value = f"latency edit {n} {time.time()}"
        edited, edited_at = time.monotonic(), datetime.now(UTC)
        store.write_record("company", {"description": value}, origin="user", record_id=record_id)
        deadline = edited + 300
        while time.monotonic() < deadline:
            found = next(iter(client.query_records(f"SELECT Description FROM Account WHERE Id = '{account['Id']}'")))
            if found["Description"] == value:
                samples.append((edited_at, time.monotonic() - edited))
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"edit {n} did not arrive within 300 s")
    return samples


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, int(round(q * len(ordered))) - 1)], 3) if ordered else 0.0


def where_the_time_goes(store: PlatformStore, samples: list[tuple[datetime, float]],
                        runs: dict[str, tuple[float, float | None]] | None = None) -> dict:
    """Per edit, the seconds of each stage, from the sync log (and the Dagster run records: run id ->
    (created, started) epoch seconds); mean and p95 per stage, cold (the edit started a run) and warm."""
    log = store.read_log(since=samples[0][0] - timedelta(seconds=1)) if samples else []
    started = [e for e in log if e.event == "sync_started"]
    completed = [e for e in log if e.event == "sync_completed"]
    rows: list[dict] = []
    for n, (edited_at, latency) in enumerate(samples):
        until = samples[n + 1][0] if n + 1 < len(samples) else datetime.max.replace(tzinfo=UTC)
        begin = next((e for e in started if edited_at <= e.at < until), None)
        if begin is None:
            continue
        end = next((e for e in completed if e.run_id == begin.run_id and e.at >= begin.at), None)
        if end is None:
            continue
        row = {"latency": latency}
        first_of_run = next(e for e in started if e.run_id == begin.run_id) is begin
        run = (runs or {}).get(begin.run_id or "")
        if first_of_run and run is not None and run[1] is not None:
            row["kind"] = "cold"
            row["sensor_tick"] = run[0] - edited_at.timestamp()
            row["run_launch"] = run[1] - run[0]
            row["run_start"] = begin.at.timestamp() - run[1]
        else:
            row["kind"] = "warm"
            row["poll_and_claim"] = (begin.at - edited_at).total_seconds()
        for stage, seconds in (end.details or {}).get("stage_seconds", {}).items():
            row[f"push_{stage}"] = seconds
        row["push_other"] = (end.at - begin.at).total_seconds() - sum(
            (end.details or {}).get("stage_seconds", {}).values())
        row["read_back_by_bench"] = latency - (end.at - edited_at).total_seconds()
        rows.append(row)
    summary: dict = {"edits_attributed": len(rows)}
    for kind in ("cold", "warm"):
        group = [r for r in rows if r["kind"] == kind]
        if not group:
            continue
        stages = sorted({k for r in group for k in r if k not in ("kind",)})
        summary[kind] = {"edits": len(group), **{
            stage: {"mean": round(statistics.fmean([r.get(stage, 0.0) for r in group]), 3),
                    "p95": _percentile([r.get(stage, 0.0) for r in group], 0.95)} for stage in stages}}
    return summary


def _run_times(home: Path) -> dict[str, tuple[float, float | None]]:
    """run id -> (created, started) of every run of the instance under DAGSTER_HOME `home`."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    os.environ["DAGSTER_HOME"] = str(home)  # the embedded event log finds its files by it
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        return {r.dagster_run.run_id: (r.create_timestamp.timestamp(), r.start_time)
                for r in instance.get_run_records(filters=dg.RunsFilter(job_name="push_changes"))}


DAEMON_CODE = """
from crm_sync.definitions import build_definitions
from crm_sync.settings import load_settings

defs = build_definitions(load_settings())
"""


def latency_daemon(client: SalesforceClient, store: PlatformStore, env: dict[str, str], edits: int,
                   interval: int, workdir: Path) -> dict:
    """The sensor under a real dagster-daemon; each run launched in its own process."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.embedded.yaml", home / "dagster.yaml")
    sections = workdir / "sections.yaml"
    data = yaml.safe_load(default_sections_path().read_text(encoding="utf-8"))
    data["defaults"]["push_interval_seconds"] = interval
    sections.write_text(yaml.safe_dump(data), encoding="utf-8")
    (workdir / "bench_defs.py").write_text(DAEMON_CODE, encoding="utf-8")
    (workdir / "workspace.yaml").write_text(
        f"load_from:\n  - python_file:\n      relative_path: bench_defs.py\n      working_directory: {workdir}\n",
        encoding="utf-8")
    daemon_env = {**os.environ, **env, "DAGSTER_HOME": str(home), "CRM_SYNC_SECTIONS": str(sections),
                  "CRM_SYNC_PLATFORM_URL": store.url, "PYTHONPATH": str(ROOT)}
    daemon_bin = Path(sys.executable).with_name("dagster-daemon")
    with open(workdir / "daemon.log", "wb") as log:
        daemon = subprocess.Popen([str(daemon_bin), "run", "-w", str(workdir / "workspace.yaml")], cwd=workdir,
                                  env=daemon_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(15)  # the daemon loads the code location and starts its sensor loop
        samples = _edit_and_wait(client, store, edits, interval)
        breakdown = where_the_time_goes(store, samples, _run_times(home))
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        shutil.copy(workdir / "daemon.log", Path(tempfile.gettempdir()) / "crm_sync_push_daemon.log")
    summary = _summary([latency for _, latency in samples], edits, interval,
                       "dagster-daemon, runs launched in their own processes")
    return {**summary, "follow_idle_seconds": store.settings.defaults.push_follow_idle_seconds,
            "poll_seconds": store.settings.defaults.push_poll_seconds, "where_the_time_goes": breakdown}


def latency(client: SalesforceClient, store: PlatformStore, env: dict[str, str], edits: int,
            interval: int) -> dict:
    import dagster as dg

    from crm_sync.defs.resources import PlatformResource
    from crm_sync.defs.send import SENSOR_NAME, build_send_definitions
    from crm_sync.salesforce.resource import SalesforceResource

    os.environ.update(env)
    resources = {"platform": PlatformResource(url=store.url), "salesforce": SalesforceResource()}
    defs = dg.Definitions.merge(build_send_definitions(store.settings), dg.Definitions(resources=resources))
    sensor = defs.get_sensor_def(SENSOR_NAME)
    job = defs.resolve_job_def("push_changes")
    stop = threading.Event()

    def sensor_loop() -> None:
        with dg.DagsterInstance.ephemeral() as instance:
            while not stop.is_set():
                tick = time.monotonic()
                with dg.build_sensor_context(instance=instance, resources=resources) as context:
                    request = sensor(context)
                if isinstance(request, dg.RunRequest):
                    job.execute_in_process(run_config=request.run_config, instance=instance, resources=resources)
                stop.wait(max(0.0, interval - (time.monotonic() - tick)))

    loop = threading.Thread(target=sensor_loop, daemon=True)
    loop.start()
    try:
        samples = _edit_and_wait(client, store, edits, interval)
    finally:
        stop.set()
    loop.join(timeout=300)
    return {**_summary([latency for _, latency in samples], edits, interval,
                       "sensor evaluated in a loop, runs in process"),
            "where_the_time_goes": where_the_time_goes(store, samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--skip-rest", action="store_true", help="measure only the Bulk API path")
    parser.add_argument("--latency", choices=["loop", "daemon", "both", "none"], default="daemon")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(Path(tmp) / "org", records=200, seed=3) as info:
        os.environ["CRM_SYNC_KEY_NAMESPACE"] = f"bench{int(time.time())}"
        info.admin.set_limits(daily_api_requests=10_000_000)
        client = SalesforceClient(SalesforceConfig.from_env(info.env()))
        results = {"records": args.records, "platform": "sqlite", "at": datetime.now(UTC).isoformat(), "runs": []}
        with PlatformStore(f"sqlite:///{tmp}/platform.db", settings()) as store:
            for api in (["bulk"] if args.skip_rest else ["rest", "bulk"]) if args.records else []:
                run = throughput(client, store, args.records, api, info.pid)
                print(json.dumps(run))
                results["runs"].append(run)
            interval = store.settings.defaults.push_interval_seconds
            results["latency"] = []
            if args.latency in ("loop", "both"):
                results["latency"].append(latency(client, store, info.env(), args.edits, interval))
                print(json.dumps(results["latency"][-1]))
            if args.latency in ("daemon", "both"):
                results["latency"].append(latency_daemon(client, store, info.env(), args.edits, interval,
                                                         Path(tmp) / "daemon"))
                print(json.dumps(results["latency"][-1]))
    if RESULTS.exists():  # keep the last figures of what this run did not measure
        previous = json.loads(RESULTS.read_text(encoding="utf-8"))
        if not results["runs"]:
            results["records"], results["runs"] = previous.get("records"), previous.get("runs", [])
        measured = {entry["mode"] for entry in results["latency"]}
        results["latency"] += [e for e in previous.get("latency", []) if e.get("mode") not in measured]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
