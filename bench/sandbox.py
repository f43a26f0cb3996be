"""Benchmark of the sandbox: seed time, full reads through REST pages, Bulk API 2.0 and 1.0, server memory.

    .venv/bin/python bench/sandbox.py                 # 1,000,000 records
    .venv/bin/python bench/sandbox.py --records 50000 # a quick run

Seeds an org in a fresh data directory (timed), starts the server as a subprocess, reads every
Account and Contact with all fields through REST (simple-salesforce's query_all_iter: nextRecordsUrl
pages of 2000) and through Bulk API 2.0 twice: a lean client (create the job, poll it, stream each
results page in 1 MiB chunks, parse it with pyarrow.csv) and simple-salesforce's bulk2 `download`
(which reads the body in 1 KiB chunks) followed by pyarrow.csv, and through Bulk API 1.0 query jobs
twice: simple-salesforce's `sf.bulk.<Object>.query(..., lazy_operation=True)` (JSON result files of
100,000 records, decoded by requests) and a lean CSV client (job, batch, poll, each result file
streamed and parsed with pyarrow.csv). Each figure runs from the first
request to the last record parsed. Prints records/s, writes bench/results/sandbox.json; the
server's peak memory is its VmHWM from /proc.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pa_csv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_sync.sandbox.catalog import CATALOG  # noqa: E402
from crm_sync.sandbox.generator import seed_org  # noqa: E402
from crm_sync.sandbox.org import DATABASE_FILE  # noqa: E402
from crm_sync.sandbox.process import running_sandbox  # noqa: E402
from crm_sync.sandbox.store import Store  # noqa: E402

OBJECTS = ("Account", "Contact")
RESULTS = ROOT / "bench" / "results" / "sandbox.json"


def peak_memory_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def all_fields_query(obj: str) -> str:
    return f"SELECT {', '.join(CATALOG.get(obj).field_names)} FROM {obj}"


def read_rest(sf, obj: str) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in sf.query_all_iter(all_fields_query(obj)))
    return count, time.perf_counter() - started


def read_bulk_streamed(info, sf, obj: str, page_size: int) -> tuple[int, float]:
    """Bulk API 2.0 with a lean client: one job, pages streamed in 1 MiB chunks, parsed by pyarrow."""
    session = info.http_session()
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"}
    jobs = f"{sf.bulk2_url}query"
    started = time.perf_counter()
    job = session.post(jobs, headers=headers, json={"operation": "query", "query": all_fields_query(obj)})
    job.raise_for_status()
    job_id = job.json()["id"]
    while (state := session.get(f"{jobs}/{job_id}", headers=headers).json()["state"]) != "JobComplete":
        if state in ("Failed", "Aborted"):
            raise SystemExit(f"bulk query job {job_id} ended {state}")
        time.sleep(0.02)
    count, locator = 0, None
    while locator != "null":
        params = {"maxRecords": page_size, **({"locator": locator} if locator else {})}
        with session.get(f"{jobs}/{job_id}/results", headers=headers, params=params, stream=True) as page:
            page.raise_for_status()
            locator = page.headers["Sforce-Locator"]
            body = io.BytesIO()
            for chunk in page.iter_content(1 << 20):
                body.write(chunk)
        body.seek(0)
        count += pa_csv.read_csv(body).num_rows
    return count, time.perf_counter() - started


def read_bulk_simple_salesforce(sf, obj: str, directory: Path, page_size: int) -> tuple[int, float]:
    started = time.perf_counter()
    results = getattr(sf.bulk2, obj).download(all_fields_query(obj), path=str(directory),
                                              max_records=page_size, wait=0)
    count = 0
    for result in results:
        count += pa_csv.read_csv(result["file"]).num_rows
        os.unlink(result["file"])
    return count, time.perf_counter() - started


def read_bulk1_simple_salesforce(sf, obj: str, poll_seconds: float) -> tuple[int, float]:
    """Bulk API 1.0 through simple-salesforce: a JSON query job, result files read one by one (lazy)."""
    started = time.perf_counter()
    pages = getattr(sf.bulk, obj).query(all_fields_query(obj), lazy_operation=True, wait=poll_seconds)
    count = sum(len(page) for page in pages)
    return count, time.perf_counter() - started


def read_bulk1_csv(info, sf, obj: str, poll_seconds: float) -> tuple[int, float]:
    """Bulk API 1.0 with a lean client: a CSV query job, each result file streamed and parsed by pyarrow."""
    session = info.http_session()
    headers = {"X-SFDC-Session": sf.session_id, "Content-Type": "application/json"}
    base = sf.bulk_url
    started = time.perf_counter()
    job = session.post(f"{base}job", headers=headers, json={"operation": "query", "object": obj, "contentType": "CSV"})
    job.raise_for_status()
    job_id = job.json()["id"]
    batch = session.post(f"{base}job/{job_id}/batch", headers=headers, data=all_fields_query(obj).encode())
    batch.raise_for_status()
    batch_id = batch.json()["id"]
    session.post(f"{base}job/{job_id}", headers=headers, json={"state": "Closed"}).raise_for_status()
    while (state := session.get(f"{base}job/{job_id}/batch/{batch_id}", headers=headers).json()["state"]) != "Completed":
        if state in ("Failed", "NotProcessed"):
            raise SystemExit(f"bulk 1.0 batch {batch_id} ended {state}")
        time.sleep(poll_seconds)
    count = 0
    for result_id in session.get(f"{base}job/{job_id}/batch/{batch_id}/result", headers=headers).json():
        with session.get(f"{base}job/{job_id}/batch/{batch_id}/result/{result_id}", headers=headers,
                         stream=True) as result:
            result.raise_for_status()
            body = io.BytesIO()
            for chunk in result.iter_content(1 << 20):
                body.write(chunk)
        body.seek(0)
        count += pa_csv.read_csv(body).num_rows
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="records to seed (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bulk-page", type=int, default=100_000, help="maxRecords per Bulk results page")
    parser.add_argument("--bulk1-poll", type=float, default=0.1,
                        help="seconds between Bulk 1.0 batch status polls (simple-salesforce's `wait`)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]  # a busy machine slows every figure: the JSON keeps how busy it was
    data_dir = Path(tempfile.mkdtemp(prefix="crm-sync-bench-"))
    try:
        store = Store(data_dir / DATABASE_FILE)
        started = time.perf_counter()
        made = seed_org(store, args.records, args.seed)
        seed_seconds = time.perf_counter() - started
        store.close()
        print(f"seeded {sum(made.values()):,} records in {seed_seconds:.1f} s "
              f"({sum(made.values()) / seed_seconds:,.0f} records/s)")

        figures: dict = {}
        with running_sandbox(data_dir, timeout=600) as info:
            sf = info.salesforce()
            downloads = data_dir / "downloads"
            downloads.mkdir()
            for obj in OBJECTS:
                expected = sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"]
                rest_count, rest_seconds = read_rest(sf, obj)
                bulk_count, bulk_seconds = read_bulk_streamed(info, sf, obj, args.bulk_page)
                ssf_count, ssf_seconds = read_bulk_simple_salesforce(sf, obj, downloads, args.bulk_page)
                bulk1_count, bulk1_seconds = read_bulk1_simple_salesforce(sf, obj, args.bulk1_poll)
                bulk1_csv_count, bulk1_csv_seconds = read_bulk1_csv(info, sf, obj, args.bulk1_poll)
                if not rest_count == bulk_count == ssf_count == bulk1_count == bulk1_csv_count == expected:
                    raise SystemExit(f"{obj}: expected {expected}, read REST {rest_count}, Bulk {bulk_count}, "
                                     f"Bulk via simple-salesforce {ssf_count}, Bulk 1.0 JSON {bulk1_count}, "
                                     f"Bulk 1.0 CSV {bulk1_csv_count}")
                figures[obj] = {
                    "records": expected,
                    "fields": len(CATALOG.get(obj).fields),
                    "rest_seconds": round(rest_seconds, 2),
                    "rest_records_per_s": round(rest_count / rest_seconds),
                    "bulk_seconds": round(bulk_seconds, 2),
                    "bulk_records_per_s": round(bulk_count / bulk_seconds),
                    "bulk_simple_salesforce_seconds": round(ssf_seconds, 2),
                    "bulk_simple_salesforce_records_per_s": round(ssf_count / ssf_seconds),
                    "bulk1_json_simple_salesforce_seconds": round(bulk1_seconds, 2),
                    "bulk1_json_simple_salesforce_records_per_s": round(bulk1_count / bulk1_seconds),
                    "bulk1_csv_seconds": round(bulk1_csv_seconds, 2),
                    "bulk1_csv_records_per_s": round(bulk1_csv_count / bulk1_csv_seconds),
                }
                print(f"{obj:8} {expected:>9,} records  REST {rest_count / rest_seconds:>8,.0f}/s "
                      f"({rest_seconds:.1f} s)  Bulk 2.0 {bulk_count / bulk_seconds:>8,.0f}/s ({bulk_seconds:.1f} s)  "
                      f"Bulk 2.0 via simple-salesforce {ssf_count / ssf_seconds:>8,.0f}/s ({ssf_seconds:.1f} s)  "
                      f"Bulk 1.0 JSON via simple-salesforce {bulk1_count / bulk1_seconds:>8,.0f}/s "
                      f"({bulk1_seconds:.1f} s)  Bulk 1.0 CSV {bulk1_csv_count / bulk1_csv_seconds:>8,.0f}/s "
                      f"({bulk1_csv_seconds:.1f} s)")
            peak = peak_memory_mb(info.pid)
        print(f"server peak memory (VmHWM): {peak:,.0f} MiB" if peak else "server peak memory: unknown")

        result = {
            "benchmark": "sandbox",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "records_requested": args.records,
            "records_seeded": sum(made.values()),
            "seeded_per_object": made,
            "seed_seconds": round(seed_seconds, 2),
            "seed_records_per_s": round(sum(made.values()) / seed_seconds),
            "reads": figures,
            "bulk_page_records": args.bulk_page,
            "server_peak_memory_mb": round(peak, 1) if peak else None,
            "load_average_1m": {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2)},
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.output}")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
