"""Benchmark: full fetch of a large sandbox org into the platform store, on SQLite and on Postgres.

Prints and writes (bench/results/receive.json) per org size and backend: records, seconds, records/s, API
calls (and by purpose), records per API call and the peak memory of the process that ran the fetch; and the API calls of an
incremental tick that finds nothing new. Each backend runs in its own child process, so its peak
memory is its own; both use the same seeded sandbox, side by side in one run. Beside them, in the same
run: the sandbox's raw Bulk API 2.0 serving rate for the same objects and fields (the CSV downloaded and
dropped, nothing parsed), and each backend's rate as a share of it (the aim: at least 0.6).

    .venv/bin/python bench/receive.py --records 1000000,5000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "receive.json"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def fetch(backend: str, sandbox_dir: str, work: str) -> dict:
    """Run in a child: full fetch of every receiving section, then one idle tick; return the figures."""
    import sqlalchemy as sa

    from crm_sync.platform import PlatformStore
    from crm_sync.salesforce.client import SalesforceClient
    from crm_sync.sandbox.process import load_sandbox_info
    from crm_sync.settings import load_settings
    from crm_sync.sync.receive import Receiver
    from crm_sync.sync.ticks import plan_tick

    info = load_sandbox_info(sandbox_dir)
    base = load_settings()
    settings = base.model_copy(update={"defaults": base.defaults.model_copy(update={"settle_seconds": 0})})
    database = None
    if backend == "sqlite":
        url = f"sqlite:///{Path(work) / 'platform.db'}"
    else:
        database = f"crm_sync_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg2://"),
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {database}"))
        url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    try:
        client = SalesforceClient.from_env(info.env())
        with PlatformStore(url, settings, landing_root=Path(work) / "landing") as store:
            receiver = Receiver(client, store)
            today = datetime.now(UTC).date()
            started = time.perf_counter()
            fetched = 0
            per_section = {}
            for section in settings.receiving_sections():
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
            calls = client.api_calls.total
            by_purpose = client.api_calls.snapshot().by_purpose
            sections = settings.receiving_sections()
            before = client.api_calls.total
            plan = plan_tick(client, store, sections, modstamp_field="LastModifiedDate")
            idle_calls = client.api_calls.total - before
        return {"backend": backend, "records": fetched, "seconds": round(seconds, 2),
                "records_per_second": round(fetched / seconds), "api_calls": calls,
                "records_per_api_call": round(fetched / max(calls, 1)),
                "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "api_calls_by_purpose": dict(sorted(by_purpose.items())),
                "idle_tick_api_calls": idle_calls, "idle_tick_found_changes": not plan.empty,
                "sections": per_section}
    finally:
        if database:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))


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
            "mib": round(downloaded / 2**20, 1), "api_calls": client.api_calls.total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="1000000", help="org sizes, comma-separated (1000000,5000000)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "SANDBOX_DIR", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fetch(*args.child)))
        return

    sizes: list[dict] = []
    for records in args.records.split(","):  # the report is rewritten after each size, so a long run keeps what it did
        sizes.append(measure_size(int(records), args.backends.split(",")))
        report = {"benchmark": "receive full fetch", "machine": {"cores": os.cpu_count()},
                  "aims": {"share_of_raw_rate": ">= 0.6", "api_calls_per_50k_records": "<= 1",
                           "peak_memory_mib": "< 600"},
                  "sizes": sizes, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {args.output}", flush=True)


def measure_size(records: int, backends: list[str]) -> dict:
    """Seed an org of `records`, then the raw Bulk download and each backend's full fetch, side by side."""
    from crm_sync.sandbox.process import running_sandbox

    with tempfile.TemporaryDirectory(prefix="crm-sync-bench-") as tmp:
        seed_started = time.perf_counter()
        with running_sandbox(Path(tmp) / "sandbox", records=records, seed=1, timeout=3600) as info:
            seed_seconds = time.perf_counter() - seed_started
            print(f"sandbox: {records:,} records seeded and served in {seed_seconds:.1f} s at {info.instance_url}",
                  flush=True)
            raw = raw_bulk_download(str(Path(tmp) / "sandbox"))
            print(f"     raw: {raw['records']:,} records ({raw['mib']} MiB of CSV) served by Bulk in {raw['seconds']} s"
                  f" = {raw['records_per_second']:,} records/s ({raw['api_calls']} API calls)", flush=True)
            runs = []
            for backend in backends:
                work = Path(tmp) / backend
                work.mkdir()
                child = subprocess.run([sys.executable, __file__, "--child", backend, str(Path(tmp) / "sandbox"),
                                        str(work)], capture_output=True, text=True, check=False)
                if child.returncode != 0:
                    raise SystemExit(f"{backend} run failed:\n{child.stderr[-4000:]}")
                figures = json.loads(child.stdout.strip().splitlines()[-1])
                figures["share_of_raw_rate"] = round(figures["records_per_second"] / raw["records_per_second"], 3)
                figures["api_calls_per_50k_records"] = round(figures["api_calls"] / (figures["records"] / 50_000), 2)
                runs.append(figures)
                print(f"{backend:>8}: {figures['records']:,} records in {figures['seconds']} s = "
                      f"{figures['records_per_second']:,} records/s; {figures['api_calls']} API calls "
                      f"({figures['records_per_api_call']:,} records per call); peak {figures['peak_memory_mib']} MiB; "
                      f"idle tick: {figures['idle_tick_api_calls']} API call(s); "
                      f"{figures['share_of_raw_rate']:.0%} of the raw Bulk rate, "
                      f"{figures['api_calls_per_50k_records']} API calls per 50k records", flush=True)
    return {"records_seeded": records, "seed_and_start_seconds": round(seed_seconds, 1),
            "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
            "raw_bulk_download": raw, "runs": runs}


if __name__ == "__main__":
    main()
