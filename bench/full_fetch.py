"""Benchmark: how much of a Dagster-run full fetch is Dagster's bookkeeping rather than the sync itself.

One seeded sandbox org; then, each on a fresh SQLite platform store:
- sync: the plain-Python receive of every section over every partition (`receive_days`, no Dagster);
- dagster: the same full fetch run by Dagster exactly as `crm-sync demo` runs it (`receive_range` over every
  partition, one run, on a DAGSTER_HOME instance with the repo's dagster.yaml: SQLite event log), timed from
  building the definitions to the run's end (opening the instance, once per process, is reported apart).
A first, unmeasured plain pass warms the org (the first pass over a cold org is the slowest).
Bookkeeping = dagster wall - sync wall; its share of the Dagster wall time is the figure the design bounds
(at most 25%). Run once per `--start-days-ago` (partition_start_date = today - N: N+1 partitions per asset,
the first holding every older record). Prints and writes bench/results/full_fetch.json.

    .venv/bin/python bench/full_fetch.py --records 50000 --start-days-ago 2,30
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "full_fetch.json"
REPO = Path(__file__).resolve().parents[1]


def _sections_file(path: Path, start_days_ago: int) -> Path:
    import yaml

    from crm_sync.settings import load_settings

    base = load_settings()
    start = datetime.now(UTC).date() - timedelta(days=start_days_ago)
    settings = base.model_copy(update={"defaults": base.defaults.model_copy(
        update={"partition_start_date": start, "settle_seconds": 0})})
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return path


def plain_sync(work: Path) -> dict:
    """Every receiving section over every partition, plain Python, in sync order."""
    from crm_sync.defs.partitions import partition_day, receive_partitions
    from crm_sync.platform import PlatformStore
    from crm_sync.salesforce.client import SalesforceClient
    from crm_sync.settings import load_settings
    from crm_sync.sync.receive_run import receive_days

    settings = load_settings()
    keys = receive_partitions(settings).get_partition_keys()
    client = SalesforceClient.from_env()
    started = time.perf_counter()
    records = 0
    with PlatformStore(f"sqlite:///{work / 'plain.db'}", settings, landing_root=work / "plain-landing") as store:
        for section in settings.receiving_sections():
            receipt = receive_days(client, store, section.object, partition_day(keys[0]), partition_day(keys[-1]),
                                   incremental=False)
            records += receipt.result.fetched
    return {"seconds": round(time.perf_counter() - started, 2), "records": records, "partitions": len(keys)}


def dagster_run(work: Path) -> dict:
    """The demo's full fetch on a fresh DAGSTER_HOME; Dagster's own output goes to a log file."""
    import dagster as dg

    import crm_sync.definitions  # noqa: F401  (imported, as the plain sync's modules are, before the clock starts)
    from crm_sync.demo import run_full_fetch

    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["CRM_SYNC_PLATFORM_URL"] = f"sqlite:///{work / 'dagster.db'}"
    os.environ["CRM_SYNC_DATA"] = str(work / "data")
    log = work / "dagster.log"
    with open(log, "w") as out, contextlib.redirect_stderr(out), contextlib.redirect_stdout(io.StringIO()):
        opened = time.perf_counter()
        with dg.DagsterInstance.get() as instance:
            instance_seconds = time.perf_counter() - opened  # once per process (a new home: its migrations)
            started = time.perf_counter()
            result = run_full_fetch(instance)
            seconds = time.perf_counter() - started
            events = len(instance.all_logs(result.run_id))
    if not result.success:
        raise SystemExit(f"the Dagster run failed; see {log}")
    materializations = sum(len(result.asset_materializations_for_node(node))
                           for node in {n.name for n in result.job_def.nodes})
    home_mib = sum(f.stat().st_size for f in home.rglob("*") if f.is_file()) / 2**20
    return {"seconds": round(seconds, 2), "instance_start_seconds": round(instance_seconds, 2), "events": events,
            "materializations": materializations,
            "dagster_home_mib": round(home_mib, 1)}


def measure(info_env: dict[str, str], start_days_ago: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="crm-sync-full-fetch-") as tmp:
        work = Path(tmp)
        os.environ.update(info_env)
        os.environ.pop("CRM_SYNC_SECTIONS", None)
        os.environ["CRM_SYNC_SECTIONS"] = str(_sections_file(work / "sections.yaml", start_days_ago))
        warm = work / "warm-up"
        warm.mkdir()
        plain_sync(warm)  # a first pass warms the org's caches, so neither measured pass runs cold
        sync = plain_sync(work)
        run = dagster_run(work)
    bookkeeping = max(run["seconds"] - sync["seconds"], 0.0)
    return {"start_days_ago": start_days_ago, "partitions_per_asset": sync["partitions"],
            "records": sync["records"], "sync_seconds": sync["seconds"], "dagster_wall_seconds": run["seconds"],
            "bookkeeping_seconds": round(bookkeeping, 2),
            "bookkeeping_share": round(bookkeeping / run["seconds"], 3), **{f"dagster_{k}": v for k, v in run.items()
                                                                            if k != "seconds"}}


def main() -> None:
    warnings.filterwarnings("ignore", category=Warning, module="dagster")  # Beta/Preview notices, not figures
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--start-days-ago", default="2", help="comma-separated: one measurement each")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from crm_sync.sandbox.process import running_sandbox

    runs = []
    with tempfile.TemporaryDirectory(prefix="crm-sync-bench-org-") as tmp:
        seeded = time.perf_counter()
        with running_sandbox(Path(tmp) / "sandbox", records=args.records, seed=1, timeout=1800) as info:
            print(f"sandbox: {args.records:,} records seeded and served in {time.perf_counter() - seeded:.1f} s")
            for days in (int(d) for d in args.start_days_ago.split(",")):
                figures = measure(info.env(), days)
                runs.append(figures)
                print(f"partition_start_date = today-{days} ({figures['partitions_per_asset']} partitions/asset): "
                      f"{figures['records']:,} records; sync {figures['sync_seconds']} s, Dagster run "
                      f"{figures['dagster_wall_seconds']} s -> bookkeeping {figures['bookkeeping_seconds']} s = "
                      f"{figures['bookkeeping_share']:.0%} ({figures['dagster_events']} events, "
                      f"{figures['dagster_dagster_home_mib']} MiB DAGSTER_HOME)")
    report = {"benchmark": "Dagster-run full fetch: sync seconds vs wall seconds", "records_seeded": args.records,
              "instance": "SQLite (repo dagster.yaml)", "platform": "SQLite", "machine": {"cores": 2},
              "runs": runs, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    sizes = previous.get("by_size", {}) if isinstance(previous.get("by_size"), dict) else {}
    sizes[str(args.records)] = report
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"by_size": sizes}, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
