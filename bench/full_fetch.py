"""Benchmark: how much of a Dagster-run full fetch is Dagster's bookkeeping rather than the sync itself.

One seeded sandbox org; then, each on a fresh SQLite platform store:
- sync: the plain-Python receive of every section over every partition (`receive_days`, no Dagster);
- dagster: the same full fetch run by Dagster exactly as `crm-sync demo` runs it (`run_full_fetch`:
  `receive_range` over every partition, one run, on a fresh DAGSTER_HOME with the dagster.yaml `make demo`
  copies, SQLite event log), timed from building the definitions to the run's end (opening the instance,
  once per process, is reported apart).
A first, unmeasured plain pass warms the org (the first pass over a cold org is the slowest). Then the two
are measured in turns, `--repeat` times (sync, dagster, sync, dagster, ...), so both see the same machine;
the figure is the median of each (the best of each, as timeit takes, is given too: on a loaded machine it is
the least disturbed). The first Dagster run of the process (what the demo does, once) is also
reported, and the same split inside each run: the time its steps spend in the sync call (`receive_days`,
timed by wrapping it) against the run's wall time, which drift between passes cannot blur. Bookkeeping = dagster wall - sync wall; its share of the Dagster wall time is the figure the
design bounds (at most 25%). Run once per `--start-days-ago` (partition_start_date = today - N: N+1
partitions per asset, the first holding every older record; settle_seconds 0, which moves the window's end
to now but fetches the same records as the demo: the seeded ones are all older). What the demo adds around
the run, its progress bars, is not measured. Prints and writes bench/results/full_fetch.json.

    .venv/bin/python bench/full_fetch.py --records 50000 --start-days-ago 2 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "full_fetch.json"
REPO = Path(__file__).resolve().parents[1]
DAGSTER_YAML = REPO / "dagster.embedded.yaml"  # what `make demo` copies; --dagster-yaml compares another


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


def dagster_run(work: Path, dagster_yaml: Path = DAGSTER_YAML) -> dict:
    """The demo's full fetch on a fresh DAGSTER_HOME and platform store under `work`; Dagster's own output goes
    to a log file."""
    import dagster as dg

    import crm_sync.definitions  # noqa: F401  (imported, as the plain sync's modules are, before the clock starts)
    from crm_sync.defs import receive_assets
    from crm_sync.demo import run_full_fetch

    inside: list[float] = []  # seconds spent in the sync itself inside the run's steps
    sync_call = receive_assets.receive_days

    def timed_receive_days(*args, **kwargs):
        began = time.perf_counter()
        try:
            return sync_call(*args, **kwargs)
        finally:
            inside.append(time.perf_counter() - began)

    home = work / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(dagster_yaml.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["CRM_SYNC_PLATFORM_URL"] = f"sqlite:///{work / 'dagster.db'}"
    os.environ["CRM_SYNC_DATA"] = str(work / "data")
    log = work / "dagster.log"
    with open(log, "w") as out, contextlib.redirect_stderr(out), contextlib.redirect_stdout(io.StringIO()):
        opened = time.perf_counter()
        with dg.DagsterInstance.get() as instance:
            instance_seconds = time.perf_counter() - opened  # once per process (a new home: its migrations)
            receive_assets.receive_days = timed_receive_days
            try:
                started = time.perf_counter()
                result = run_full_fetch(instance)
                seconds = time.perf_counter() - started
            finally:
                receive_assets.receive_days = sync_call
            events = len(instance.all_logs(result.run_id))
    if not result.success:
        raise SystemExit(f"the Dagster run failed; see {log}")
    materializations = sum(len(result.asset_materializations_for_node(node))
                           for node in {n.name for n in result.job_def.nodes})
    home_mib = sum(f.stat().st_size for f in home.rglob("*") if f.is_file()) / 2**20
    return {"seconds": round(seconds, 2), "sync_inside_seconds": round(sum(inside), 2),
            "instance_start_seconds": round(instance_seconds, 2), "events": events,
            "materializations": materializations,
            "dagster_home_mib": round(home_mib, 1)}


def _share(sync_seconds: float, dagster_seconds: float) -> tuple[float, float]:
    bookkeeping = max(dagster_seconds - sync_seconds, 0.0)
    return round(bookkeeping, 2), round(bookkeeping / dagster_seconds, 3)


def measure(info_env: dict[str, str], start_days_ago: int, repeat: int, dagster_yaml: Path = DAGSTER_YAML) -> dict:
    with tempfile.TemporaryDirectory(prefix="crm-sync-full-fetch-") as tmp:
        work = Path(tmp)
        os.environ.update(info_env)
        os.environ.pop("CRM_SYNC_SECTIONS", None)
        os.environ["CRM_SYNC_SECTIONS"] = str(_sections_file(work / "sections.yaml", start_days_ago))
        warm = work / "warm-up"
        warm.mkdir()
        plain_sync(warm)  # a first pass warms the org's caches, so neither measured pass runs cold
        syncs, runs = [], []
        for turn in range(repeat):
            (work / f"plain-{turn}").mkdir()
            syncs.append(plain_sync(work / f"plain-{turn}"))
            runs.append(dagster_run(work / f"dagster-{turn}", dagster_yaml))
    sync_seconds = statistics.median(s["seconds"] for s in syncs)
    dagster_seconds = statistics.median(r["seconds"] for r in runs)
    bookkeeping, share = _share(sync_seconds, dagster_seconds)
    first_bookkeeping, first_share = _share(syncs[0]["seconds"], runs[0]["seconds"])
    best_sync, best_dagster = min(s["seconds"] for s in syncs), min(r["seconds"] for r in runs)
    best_bookkeeping, best_share = _share(best_sync, best_dagster)
    last = runs[-1]
    # The same split inside each run (its steps' sync calls vs the rest), immune to drift between passes
    in_run = [max(r["seconds"] - r["sync_inside_seconds"], 0.0) / r["seconds"] for r in runs]
    return {"start_days_ago": start_days_ago, "partitions_per_asset": syncs[0]["partitions"],
            "records": syncs[0]["records"], "repeat": repeat,
            "sync_seconds": round(sync_seconds, 2), "dagster_wall_seconds": round(dagster_seconds, 2),
            "bookkeeping_seconds": bookkeeping, "bookkeeping_share": share,
            "best_of_turns": {"sync_seconds": best_sync, "dagster_wall_seconds": best_dagster,
                              "bookkeeping_seconds": best_bookkeeping, "bookkeeping_share": best_share},
            "first_turn": {"sync_seconds": syncs[0]["seconds"], "dagster_wall_seconds": runs[0]["seconds"],
                           "bookkeeping_seconds": first_bookkeeping, "bookkeeping_share": first_share},
            "in_run_bookkeeping_share": round(statistics.median(in_run), 3),
            "in_run_bookkeeping_share_each": [round(x, 3) for x in in_run],
            "sync_inside_run_seconds_each": [r["sync_inside_seconds"] for r in runs],
            "sync_seconds_each": [s["seconds"] for s in syncs],
            "dagster_wall_seconds_each": [r["seconds"] for r in runs],
            "dagster_instance_start_seconds": runs[0]["instance_start_seconds"],
            **{f"dagster_{k}": v for k, v in last.items()
               if k not in ("seconds", "instance_start_seconds", "sync_inside_seconds")}}


def main() -> None:
    warnings.filterwarnings("ignore", category=Warning, module="dagster")  # Beta/Preview notices, not figures
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--start-days-ago", default="2", help="comma-separated: one measurement each")
    parser.add_argument("--repeat", type=int, default=3, help="measured turns of sync and Dagster run each")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--dagster-yaml", type=Path, default=DAGSTER_YAML,
                        help="the instance settings of the Dagster runs (default: the embedded one)")
    args = parser.parse_args()

    from crm_sync.sandbox.process import running_sandbox

    runs = []
    load_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="crm-sync-bench-org-") as tmp:
        seeded = time.perf_counter()
        with running_sandbox(Path(tmp) / "sandbox", records=args.records, seed=1, timeout=1800) as info:
            print(f"sandbox: {args.records:,} records seeded and served in {time.perf_counter() - seeded:.1f} s")
            for days in (int(d) for d in args.start_days_ago.split(",")):
                figures = measure(info.env(), days, args.repeat, args.dagster_yaml)
                runs.append(figures)
                print(f"partition_start_date = today-{days} ({figures['partitions_per_asset']} partitions/asset): "
                      f"{figures['records']:,} records; sync {figures['sync_seconds']} s, Dagster run "
                      f"{figures['dagster_wall_seconds']} s -> bookkeeping {figures['bookkeeping_seconds']} s = "
                      f"{figures['bookkeeping_share']:.0%} (medians of {args.repeat}; best of each "
                      f"{figures['best_of_turns']['bookkeeping_share']:.0%}; first turn "
                      f"{figures['first_turn']['bookkeeping_share']:.0%}; inside the run "
                      f"{figures['in_run_bookkeeping_share']:.0%}; "
                      f"{figures['dagster_events']} events, "
                      f"{figures['dagster_dagster_home_mib']} MiB DAGSTER_HOME)")
    report = {"benchmark": "Dagster-run full fetch: sync seconds vs wall seconds", "records_seeded": args.records,
              "instance": f"SQLite ({args.dagster_yaml.name})", "platform": "SQLite",
              "machine": {"cores": os.cpu_count(), "load_average_1m": {"start": load_start,
                                                                       "end": round(os.getloadavg()[0], 2)}},
              "runs": runs, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    sizes = previous.get("by_size", {}) if isinstance(previous.get("by_size"), dict) else {}
    earlier = sizes.get(str(args.records))  # the run before stays beside the new one: the machine's load varies
    report["previous"] = {k: v for k, v in earlier.items() if k != "previous"} if earlier else None
    sizes[str(args.records)] = report
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"by_size": sizes}, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
