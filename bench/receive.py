"""Benchmark: full fetch of a large sandbox org into the platform store, on SQLite and on Postgres.

Prints and writes (bench/results/receive.json) per org size and backend: records, seconds, records/s, API
calls (and by purpose), records per API call and the peak memory (VmHWM) of the process that ran the fetch; and the API calls of an
incremental tick that finds nothing new. Both backends use the same seeded sandbox, side by side in one
run. Beside them, in the same run: the sandbox's raw Bulk API 2.0 serving rate for the same objects and
fields (the CSV downloaded and dropped, nothing parsed), and each backend's rate as a share of it (the aim:
at least 0.6). Every measured part runs in a child process of its own, so each peak is that process's own.
Each part also reports the CPU seconds of every process it kept busy (the fetching process, the sandbox,
the Postgres server) and the floor they put under its time here (their sum over the cores): the raw
download's time over a run's floor is the best share of the raw rate this machine allows that run.

Two ways of running the same full fetch (`--modes`):
- `serial`: every section one after the other in one process (the plain-Python receive loop);
- `pooled`: as a Dagster deployment runs it: each section in a process of its own (one run step), started
  once the sections it depends on are done (the receive assets' deps), at most `--pool` at a time (the
  `salesforce_api` pool's default limit, 2). Its peak memory is the largest of its processes'.

    .venv/bin/python bench/receive.py --records 1000000,5000000
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from cpu_accounting import cpu_used, own_cpu_seconds, peak_memory_mib

RESULTS = Path(__file__).resolve().parent / "results" / "receive.json"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_POOL = 2  # the salesforce_api pool's default limit (dagster.embedded.yaml, dagster.postgres.yaml)


@contextlib.contextmanager
def platform_database(backend: str, work: Path) -> Iterator[str]:
    """The URL of a new, empty platform database of `backend`; a Postgres one is dropped on exit."""
    import sqlalchemy as sa

    if backend == "sqlite":
        yield f"sqlite:///{work / 'platform.db'}"
        return
    database = f"crm_sync_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg2://"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {database}"))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{database}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()


def bench_settings():  # noqa: ANN201 - crm_sync.settings.Settings, imported in the child only
    """The packaged sections with settle_seconds 0: every seeded record is fetched."""
    from crm_sync.settings import load_settings

    base = load_settings()
    return base.model_copy(update={"defaults": base.defaults.model_copy(update={"settle_seconds": 0})})


def fetch(url: str, sandbox_dir: str, work: str, objects: list[str] | None, idle_tick: bool) -> dict:
    """Run in a child: full fetch of the given receiving sections (all when None), one after the other,
    then (idle_tick) one incremental tick over every section; return the figures."""
    from crm_sync.platform import PlatformStore
    from crm_sync.salesforce.client import SalesforceClient
    from crm_sync.sandbox.process import load_sandbox_info
    from crm_sync.sync.receive import Receiver
    from crm_sync.sync.ticks import plan_tick

    info = load_sandbox_info(sandbox_dir)
    settings = bench_settings()
    client = SalesforceClient.from_env(info.env())
    figures: dict = {}
    with PlatformStore(url, settings, landing_root=Path(work) / "landing") as store:
        receiver = Receiver(client, store)
        today = datetime.now(UTC).date()
        sections = [s for s in settings.receiving_sections() if objects is None or s.object in objects]
        started = time.perf_counter()
        fetched = 0
        per_section = {}
        for section in sections:
            section_start = time.perf_counter()
            window = receiver.plan_window(section, settings.defaults.partition_start_date, today,
                                          incremental=False, modstamp_field="LastModifiedDate")
            result = receiver.receive_window(section, window, modstamp_field="LastModifiedDate",
                                             days=(settings.defaults.partition_start_date, today))
            fetched += result.fetched
            per_section[section.object] = {"records": result.fetched, "api": result.api,
                                           "api_calls": result.api_calls,
                                           "seconds": round(time.perf_counter() - section_start, 2)}
        seconds = time.perf_counter() - started
        figures.update(records=fetched, seconds=round(seconds, 2), api_calls=client.api_calls.total,
                       api_calls_by_purpose=dict(sorted(client.api_calls.snapshot().by_purpose.items())),
                       sections=per_section)
        if idle_tick:
            before = client.api_calls.total
            plan = plan_tick(client, store, settings.receiving_sections(), modstamp_field="LastModifiedDate")
            figures.update(idle_tick_api_calls=client.api_calls.total - before,
                           idle_tick_found_changes=not plan.empty)
    figures["peak_memory_mib"] = peak_memory_mib()
    figures["cpu_seconds"] = round(own_cpu_seconds(), 1)
    return figures


def raw_bulk_download(sandbox_dir: str) -> dict:
    """The sandbox's own Bulk serving rate: one queryAll job per receiving section, every page downloaded."""
    from crm_sync.salesforce import bulk, soql
    from crm_sync.salesforce.client import SalesforceClient
    from crm_sync.sandbox.process import load_sandbox_info
    from crm_sync.settings import load_settings
    from crm_sync.sync.mapping import receive_fields

    client = SalesforceClient.from_env(load_sandbox_info(sandbox_dir).env())
    records = downloaded = 0
    started = time.perf_counter()
    for section in load_settings().receiving_sections():
        query = soql.select(section.object, receive_fields(section), None)
        job = bulk.create_query_job(client.transport, query, include_deleted=True, obj=section.object)
        info = bulk.wait_for_job(client.transport, "query", job, obj=section.object)
        records += int(info.get("numberRecordsProcessed") or 0)
        for data in bulk.iter_result_pages(client.transport, job["id"], max_records=load_settings().defaults.bulk_page_records, obj=section.object):
            downloaded += len(data)
    seconds = time.perf_counter() - started
    return {"records": records, "seconds": round(seconds, 2), "records_per_second": round(records / seconds),
            "mib": round(downloaded / 2**20, 1), "api_calls": client.api_calls.total,
            "peak_memory_mib": peak_memory_mib(), "cpu_seconds": round(own_cpu_seconds(), 1)}


def cpu_bound(figures: dict) -> dict:
    """The CPU all processes of a measured part used (client, sandbox, Postgres server) and the floor it puts
    under its time on this machine: that CPU spread perfectly over every core."""
    total = figures["cpu_seconds"] + figures["sandbox_cpu_seconds"] + figures["postgres_cpu_seconds"]
    return {"total_cpu_seconds": round(total, 1), "cpu_floor_seconds": round(total / (os.cpu_count() or 1), 1)}


def in_child(*args: str) -> dict:
    """Run this script's child mode with `args` in a new process; its figures."""
    child = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)], capture_output=True, text=True,
                           check=False)
    if child.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def run_child(args: list[str]) -> dict:
    kind, *rest = args
    if kind == "raw":
        return raw_bulk_download(*rest)
    url, sandbox_dir, work, objects, idle = rest
    return fetch(url, sandbox_dir, work, json.loads(objects), idle == "idle")


def serial_fetch(url: str, sandbox_dir: str, work: Path) -> dict:
    """Every section in one process, one after the other, then an idle tick."""
    return in_child("fetch", url, sandbox_dir, str(work), "null", "idle")


def pooled_fetch(url: str, sandbox_dir: str, work: Path, pool: int) -> dict:
    """Each section in a process of its own once its dependencies are done, at most `pool` at a time."""
    from crm_sync.settings.references import dependencies

    sections = bench_settings().receiving_sections()
    needs = {s.object: {d.object for d in dependencies(s, sections)} for s in sections}
    done: set[str] = set()
    results: dict[str, dict] = {}
    running: dict[concurrent.futures.Future, str] = {}
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=pool) as threads:
        while len(done) < len(sections):
            for section in sections:
                name = section.object
                if (name not in done and name not in running.values() and needs[name] <= done
                        and len(running) < pool):
                    running[threads.submit(in_child, "fetch", url, sandbox_dir, str(work), json.dumps([name]),
                                           "no-idle")] = name
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                results[name] = future.result()
                done.add(name)
    seconds = time.perf_counter() - started
    by_purpose: dict[str, int] = {}
    for figures in results.values():
        for purpose, calls in figures["api_calls_by_purpose"].items():
            by_purpose[purpose] = by_purpose.get(purpose, 0) + calls
    return {"records": sum(f["records"] for f in results.values()), "seconds": round(seconds, 2),
            "api_calls": sum(f["api_calls"] for f in results.values()),
            "api_calls_by_purpose": dict(sorted(by_purpose.items())),
            "peak_memory_mib": max(f["peak_memory_mib"] for f in results.values()), "pool": pool,
            "cpu_seconds": round(sum(f["cpu_seconds"] for f in results.values()), 1),
            "sections": {s.object: results[s.object]["sections"][s.object] for s in sections}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="1000000", help="org sizes, comma-separated (1000000,5000000)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--modes", default="serial,pooled", help="serial, pooled or both (see above)")
    parser.add_argument("--pool", type=int, default=DEFAULT_POOL, help="sections at a time in the pooled mode")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return

    sizes: list[dict] = []
    for records in args.records.split(","):  # the report is rewritten after each size, so a long run keeps what it did
        sizes.append(measure_size(int(records), args.backends.split(","), args.modes.split(","), args.pool))
        report = {"benchmark": "receive full fetch", "machine": {"cores": os.cpu_count()},
                  "aims": {"share_of_raw_rate": ">= 0.6", "api_calls_per_50k_records": "<= 1",
                           "peak_memory_mib": "< 600"},
                  "sizes": sizes, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {args.output}", flush=True)


def measure_size(records: int, backends: list[str], modes: list[str], pool: int) -> dict:
    """Seed an org of `records`, then the raw Bulk download and each backend's full fetch, side by side."""
    from crm_sync.sandbox.process import running_sandbox

    with tempfile.TemporaryDirectory(prefix="crm-sync-bench-") as tmp:
        seed_started = time.perf_counter()
        sandbox_dir = str(Path(tmp) / "sandbox")
        with running_sandbox(Path(sandbox_dir), records=records, seed=1, timeout=3600) as info:
            seed_seconds = time.perf_counter() - seed_started
            print(f"sandbox: {records:,} records seeded and served in {seed_seconds:.1f} s at {info.instance_url}",
                  flush=True)
            spent: dict = {}
            with cpu_used(info.pid, spent):
                raw = in_child("raw", sandbox_dir)
            raw.update(spent)
            raw.update(cpu_bound(raw))
            print(f"     raw: {raw['records']:,} records ({raw['mib']} MiB of CSV) served by Bulk in {raw['seconds']} s"
                  f" = {raw['records_per_second']:,} records/s ({raw['api_calls']} API calls; CPU: "
                  f"{raw['cpu_seconds']} s here, {raw['sandbox_cpu_seconds']} s sandbox)", flush=True)
            runs = []
            for backend in backends:
                for mode in modes:
                    work = Path(tmp) / f"{backend}-{mode}"
                    work.mkdir()
                    spent = {}
                    with platform_database(backend, work) as url, cpu_used(info.pid, spent):
                        if mode == "serial":
                            figures = serial_fetch(url, sandbox_dir, work)
                        else:
                            figures = pooled_fetch(url, sandbox_dir, work, pool)
                    figures = {"backend": backend, "mode": mode, **figures, **spent}
                    figures.update(cpu_bound(figures))
                    # the best share this machine allows: the raw download's time over this run's CPU floor
                    figures["share_of_raw_rate_at_cpu_floor"] = round(
                        raw["seconds"] / max(figures["cpu_floor_seconds"], raw["seconds"]), 3)
                    figures["records_per_second"] = round(figures["records"] / figures["seconds"])
                    figures["records_per_api_call"] = round(figures["records"] / max(figures["api_calls"], 1))
                    figures["share_of_raw_rate"] = round(figures["records_per_second"] / raw["records_per_second"], 3)
                    figures["api_calls_per_50k_records"] = round(figures["api_calls"] / (figures["records"] / 50_000), 2)
                    runs.append(figures)
                    idle = (f"; idle tick: {figures['idle_tick_api_calls']} API call(s)"
                            if "idle_tick_api_calls" in figures else "")
                    print(f"{backend:>8} {mode:>6}: {figures['records']:,} records in {figures['seconds']} s = "
                          f"{figures['records_per_second']:,} records/s; {figures['api_calls']} API calls "
                          f"({figures['records_per_api_call']:,} records per call); peak {figures['peak_memory_mib']} MiB"
                          f"{idle}; {figures['share_of_raw_rate']:.0%} of the raw Bulk rate "
                          f"(CPU: {figures['cpu_seconds']} s here, {figures['sandbox_cpu_seconds']} s sandbox, "
                          f"{figures['postgres_cpu_seconds']} s Postgres; at most "
                          f"{figures['share_of_raw_rate_at_cpu_floor']:.0%} on {os.cpu_count()} cores), "
                          f"{figures['api_calls_per_50k_records']} API calls per 50k records", flush=True)
    return {"records_seeded": records, "seed_and_start_seconds": round(seed_seconds, 1),
            "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
            "raw_bulk_download": raw, "runs": runs}


if __name__ == "__main__":
    main()
