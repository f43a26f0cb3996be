"""`crm-sync demo` and `crm-sync ui`: the sandbox, the embedded Dagster instance and the platform store together.

The demo starts the local Salesforce org (seeded on first start), runs `full_fetch` on the Dagster instance
in $DAGSTER_HOME, prints per section Salesforce's count next to the platform's, and exits non-zero when they
differ. The data stays in place; `crm-sync ui` starts the same sandbox again with the Dagster UI and daemon.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import dagster as dg

from crm_sync.platform import PlatformStore
from crm_sync.platform.engine import DATA_DIR_ENV, PLATFORM_URL_ENV, data_dir
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.sandbox.process import running_sandbox
from crm_sync.settings import load_settings

DEMO_RECORDS_ENV = "CRM_SYNC_DEMO_RECORDS"
DEFAULT_DEMO_RECORDS = 50_000
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class SectionReport:
    object: str
    model: str
    salesforce: int
    platform: int
    api_calls: int
    seconds: float

    @property
    def matches(self) -> bool:
        return self.salesforce == self.platform


def _prepare_environment(info_env: dict[str, str], root: Path) -> None:
    os.environ.update(info_env)
    os.environ.setdefault(DATA_DIR_ENV, str(root))
    os.environ.setdefault(PLATFORM_URL_ENV, f"sqlite:///{(root / 'platform.db').resolve()}")


def run_full_fetch(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Materialize every partition of every receive asset in one run (one Bulk query per section)."""
    from crm_sync.definitions import build_definitions
    from crm_sync.defs.partitions import receive_partitions

    settings = load_settings()
    job = build_definitions(settings).resolve_job_def("receive_range")
    keys = receive_partitions(settings).get_partition_keys()
    return job.execute_in_process(instance=instance, raise_on_error=False,
                                  tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]})


def compare_counts(result: dg.ExecuteInProcessResult) -> list[SectionReport]:
    """Per receiving section: live records in Salesforce (with the section's filter) vs live platform rows."""
    client = SalesforceClient.from_env()
    reports = []
    with PlatformStore() as store:
        for section in store.settings.receiving_sections():
            metadata = _materialization_metadata(result, section.object)
            reports.append(SectionReport(
                section.object, section.model,
                salesforce=client.count(section.object, section.filter),
                platform=store.count_records(section.model, include_deleted=False),
                api_calls=int(metadata.get("api_calls", 0)), seconds=float(metadata.get("seconds", 0.0))))
    return reports


def _materialization_metadata(result: dg.ExecuteInProcessResult, obj: str) -> dict[str, float]:
    node = dg.AssetKey(["salesforce", obj]).to_python_identifier()
    # A run over a partition range records one materialization per partition, each with the run's metadata.
    for materialization in result.asset_materializations_for_node(node)[:1]:
        return {name: value.value for name, value in materialization.metadata.items()
                if isinstance(value.value, int | float) and not isinstance(value.value, bool)}
    return {}


def print_report(reports: list[SectionReport]) -> None:
    click.echo(f"{'section':<12} {'model':<13} {'salesforce':>10} {'platform':>10} {'api calls':>9} {'seconds':>8}")
    for r in reports:
        flag = "" if r.matches else "   <- differs"
        click.echo(f"{r.object:<12} {r.model:<13} {r.salesforce:>10} {r.platform:>10} {r.api_calls:>9} "
                   f"{r.seconds:>8.2f}{flag}")
    click.echo(f"{'total':<26} {sum(r.salesforce for r in reports):>10} {sum(r.platform for r in reports):>10} "
               f"{sum(r.api_calls for r in reports):>9}")


@click.command("demo")
@click.option("--records", type=int, default=lambda: int(os.environ.get(DEMO_RECORDS_ENV, DEFAULT_DEMO_RECORDS)),
              show_default=f"${DEMO_RECORDS_ENV} or {DEFAULT_DEMO_RECORDS}", help="size of the seeded org")
def demo_command(records: int) -> None:
    """Start the sandbox org, run full_fetch into the platform store, and compare counts."""
    root = data_dir().resolve()
    started = time.monotonic()
    click.echo(f"Starting the sandbox org in {root / 'sandbox'} (seeding {records:,} records on first start)...")
    with running_sandbox(root / "sandbox", records=records, seed=1, timeout=900) as info:
        _prepare_environment(info.env(), root)
        click.echo(f"Sandbox ready at {info.instance_url}; running full_fetch on the Dagster instance in "
                   f"{os.environ.get('DAGSTER_HOME', '(ephemeral)')}...")
        instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
        result = run_full_fetch(instance)
        reports = compare_counts(result)
    print_report(reports)
    click.echo(f"full_fetch run {result.run_id}: {'success' if result.success else 'FAILED'} "
               f"in {time.monotonic() - started:.1f} s")
    click.echo("Open the UI with schedules and sensors against the same sandbox: make ui  (then http://127.0.0.1:3000)")
    if not result.success or not all(r.matches for r in reports):
        raise SystemExit(1)


@click.command("ui")
@click.option("--port", type=int, default=3000, show_default=True, help="port of the Dagster UI")
def ui_command(port: int) -> None:
    """Start the sandbox org and the Dagster UI + daemon (dagster dev) against the embedded instance."""
    root = data_dir().resolve()
    with running_sandbox(root / "sandbox", records=0, seed=1, timeout=900) as info:
        _prepare_environment(info.env(), root)
        click.echo(f"Sandbox at {info.instance_url}; Dagster UI on http://127.0.0.1:{port} (Ctrl-C stops both)")
        command = [sys.executable, "-m", "dagster", "dev", "-m", "crm_sync.definitions", "-h", "127.0.0.1",
                   "-p", str(port)]
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(command, check=False)
