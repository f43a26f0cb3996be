"""`crm-sync demo` and `crm-sync ui`: the sandbox, the embedded Dagster instance and the platform store together.

The demo starts the local Salesforce org (seeded on first start), runs a full fetch (`receive_range` over
every partition, one run) on the Dagster instance in $DAGSTER_HOME with a progress bar per section (Dagster's
own output goes to a log file it names), prints per section Salesforce's count next to the platform's, and
exits non-zero when they differ. The data stays in place; `crm-sync ui` starts the same sandbox again with
the Dagster UI and daemon, printing a short header (addresses, log file, how to stop) while dagster dev's
own output goes to a log file.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import dagster as dg
import requests

from crm_sync.console import SectionProgress, dagster_output_to
from crm_sync.platform import PlatformStore
from crm_sync.platform.engine import DATA_DIR_ENV, PLATFORM_URL_ENV, data_dir
from crm_sync.salesforce import soql
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.sandbox.process import running_sandbox
from crm_sync.settings import SECTIONS_ENV, default_sections_path, load_settings
from crm_sync.sync.health.alerts import UI_URL_ENV
from crm_sync.sync.health.alerts import ui_url as alert_ui_url
from crm_sync.sync.mapping import with_filter
from crm_sync.sync.windows import HISTORY_START

DEMO_RECORDS_ENV = "CRM_SYNC_DEMO_RECORDS"
SANDBOX_PORT_ENV = "CRM_SYNC_SANDBOX_PORT"
DEFAULT_DEMO_RECORDS = 50_000
DEMO_SECTIONS = "sections.yaml"
DEMO_DAILY_PARTITIONS = 2  # days before the first demo that get their own partition (plus today's)
DAGSTER_LOG = "demo-dagster.log"
UI_DAGSTER_LOG = "ui-dagster.log"
UI_START_TIMEOUT_S = 300.0
UI_STOP_TIMEOUT_S = 30.0
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


SANDBOX_PORT_OPTION = click.option(
    "--sandbox-port", type=int, default=lambda: int(os.environ.get(SANDBOX_PORT_ENV) or 0),
    show_default=f"${SANDBOX_PORT_ENV}, else any free port", help="port of the sandbox org (HTTPS on 127.0.0.1)")


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


def demo_sections(root: Path, today: date | None = None) -> Path | None:
    """The demo's sections file: the packaged default with a recent `partition_start_date` (two days before the
    first demo), so a full fetch is a few partitions per asset, the first holding all older history.

    Written once under `root` and kept, so the partitions stay the same across demo and UI runs. None when
    the user points CRM_SYNC_SECTIONS at their own file, which is then used as it is.
    """
    if os.environ.get(SECTIONS_ENV):
        return None
    path = root / DEMO_SECTIONS
    if not path.exists():
        start = (today or datetime.now(UTC).date()) - timedelta(days=DEMO_DAILY_PARTITIONS)
        text = default_sections_path().read_text(encoding="utf-8")
        text, replaced = re.subn(r"^(\s*partition_start_date:\s*)[0-9-]+", rf"\g<1>{start.isoformat()}", text,
                                 count=1, flags=re.MULTILINE)
        if not replaced:
            raise RuntimeError(f"{default_sections_path()} has no partition_start_date to set for the demo")
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# crm-sync demo: the packaged sections with partition_start_date {start} (the first\n"
                        f"# partition holds every older record). Delete this file to start afresh.\n{text}",
                        encoding="utf-8")
    os.environ[SECTIONS_ENV] = str(path)
    return path


def _prepare_environment(info_env: dict[str, str], root: Path) -> Path | None:
    os.environ.update(info_env)
    os.environ.setdefault(DATA_DIR_ENV, str(root))
    os.environ.setdefault(PLATFORM_URL_ENV, f"sqlite:///{(root / 'platform.db').resolve()}")
    return demo_sections(root)


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
    """Per receiving section: live Salesforce records (with the section's filter) modified before the end of the
    window the run fetched, vs live platform rows. Records modified during the last `settle_seconds` are left
    to the next tick by design, so they are not counted as missing."""
    client = SalesforceClient.from_env()
    reports = []
    with PlatformStore() as store:
        field = store.settings.defaults.modstamp_field
        for section in store.settings.receiving_sections():
            metadata = _materialization_metadata(result, section.object)
            fetched_until = _fetched_until(result, section.object)
            where = with_filter(section, soql.window_condition(field, HISTORY_START, fetched_until))
            reports.append(SectionReport(
                section.object, section.model, salesforce=client.count(section.object, where),
                platform=store.count_records(section.model, include_deleted=False),
                api_calls=int(metadata.get("api_calls", 0)), seconds=float(metadata.get("seconds", 0.0))))
    return reports


def _fetched_until(result: dg.ExecuteInProcessResult, obj: str) -> datetime:
    """The end of the window the run fetched for one section (its last partition's window end)."""
    node = dg.AssetKey(["salesforce", obj]).to_python_identifier()
    ends = [datetime.fromisoformat(str(m.metadata["window_end"].value))
            for m in result.asset_materializations_for_node(node) if "window_end" in m.metadata]
    return max(ends, default=datetime.now(UTC))


def _materialization_metadata(result: dg.ExecuteInProcessResult, obj: str) -> dict[str, float]:
    """The run's figures of one section: they sit on the first partition of the run's range only."""
    node = dg.AssetKey(["salesforce", obj]).to_python_identifier()
    for materialization in result.asset_materializations_for_node(node):
        if "api_calls" in materialization.metadata:
            return {name: value.value for name, value in materialization.metadata.items()
                    if isinstance(value.value, int | float) and not isinstance(value.value, bool)}
    return {}


def expected_records() -> dict[str, int]:
    """Per receiving section, what a full fetch will fetch (deleted records too): the progress bars' totals.
    Records modified during the last `settle_seconds` wait for the next tick, so they are not counted."""
    client = SalesforceClient.from_env()
    settings = load_settings()
    field = settings.defaults.modstamp_field
    settled = datetime.now(UTC) - timedelta(seconds=settings.defaults.settle_seconds)
    return {s.object: client.count(s.object, with_filter(s, f"{soql.path(field)} < {soql.datetime_literal(settled)}"),
                                   include_deleted=True)
            for s in settings.receiving_sections()}


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
@SANDBOX_PORT_OPTION
def demo_command(records: int, sandbox_port: int) -> None:
    """Start the sandbox org, run a full fetch into the platform store, and compare counts.

    The terminal shows a progress bar per section, then the table and how to open the UI; Dagster's own
    output (its event log lines and warnings) goes to $CRM_SYNC_DATA/demo-dagster.log.
    """
    root = data_dir().resolve()
    started = time.monotonic()
    click.echo(f"Starting the sandbox org in {root / 'sandbox'} (seeding {records:,} records on first start)...")
    with running_sandbox(root / "sandbox", records=records, seed=1, timeout=900, port=sandbox_port) as info:
        sections = _prepare_environment(info.env(), root)
        settings = load_settings()
        click.echo(f"Sandbox ready at {info.instance_url}. Sections: {sections or os.environ[SECTIONS_ENV]} "
                   f"(partitions from {settings.defaults.partition_start_date}, the first holding all older "
                   "records).")
        log = root / DAGSTER_LOG
        click.echo(f"Full fetch on the Dagster instance in {os.environ.get('DAGSTER_HOME', '(ephemeral)')}; "
                   f"Dagster's log: {log}")
        with dagster_output_to(log), SectionProgress(expected_records()):
            instance = (dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME")
                        else dg.DagsterInstance.ephemeral())
            fetch_started = time.monotonic()
            result = run_full_fetch(instance)
            fetch_seconds = time.monotonic() - fetch_started
        reports = compare_counts(result)
    print_report(reports)
    sync_seconds = sum(r.seconds for r in reports)
    click.echo(f"Full fetch run {result.run_id}: {'success' if result.success else 'FAILED'} in "
               f"{fetch_seconds:.1f} s ({sync_seconds:.1f} s receiving); {time.monotonic() - started:.1f} s in all")
    click.echo("Next: `make ui`, then open http://127.0.0.1:3000 (assets, checks, schedules, against this org).")
    if not result.success or not all(r.matches for r in reports):
        click.echo(f"Something differs or failed: see {log}")
        raise SystemExit(1)


def ui_dagster_command(port: int) -> list[str]:
    """`dagster dev` on the crm_sync.definitions module: its code location is named crm_sync.definitions,
    as in workspace.yaml and for `dg dev`, so `crm-sync pause` and the UI's toggles act on the same state."""
    return [sys.executable, "-m", "dagster", "dev", "-m", "crm_sync.definitions", "-h", "127.0.0.1", "-p", str(port)]


def ui_header(ui_url: str, sandbox_url: str, log: Path, dagster_home: str | None, alert_base: str) -> list[str]:
    """What `crm-sync ui` prints before it starts: where everything is and how to stop it (a few lines)."""
    home = dagster_home or "a temporary one (set DAGSTER_HOME to keep runs and schedules)"
    return [f"Dagster UI:      {ui_url}  (starting; the next line says when it answers)",
            f"Sandbox org:     {sandbox_url}",
            f"Alert links:     {alert_base}/runs/<run id>  (${UI_URL_ENV})",
            f"Dagster home:    {home}",
            f"Dagster's log:   {log}  (webserver, daemon and code server output; `tail -f` it to follow)",
            "Another shell:   eval \"$(crm-sync sandbox-env)\"  sets what `crm-sync status` needs",
            "Stop:            Ctrl-C (stops the UI, the daemon and the sandbox)"]


def wait_for_ui(url: str, process: subprocess.Popen, timeout: float = UI_START_TIMEOUT_S) -> bool:
    """True once the webserver answers at `url`; False when `process` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return True
        time.sleep(0.5)
    return False


def _log_tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _stop_dagster(process: subprocess.Popen) -> None:
    """One SIGINT: dagster dev then shuts its webserver, daemon and code server down; SIGKILL if it hangs.
    (dagster dev runs in its own session, so a Ctrl-C reaches it only through here, once.)"""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(UI_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("ui")
@click.option("--port", type=int, default=3000, show_default=True, help="port of the Dagster UI")
@SANDBOX_PORT_OPTION
def ui_command(port: int, sandbox_port: int) -> None:
    """Start the sandbox org and the Dagster UI + daemon (dagster dev) against the embedded instance.

    The terminal shows a short header (the UI's address, the sandbox, where Dagster's output goes, how to
    stop) and a line when the UI answers; dagster dev's own output goes to $CRM_SYNC_DATA/ui-dagster.log.
    """
    root = data_dir().resolve()
    url = f"http://127.0.0.1:{port}"
    log = root / UI_DAGSTER_LOG
    click.echo(f"Starting the sandbox org in {root / 'sandbox'} and the Dagster UI...")
    with running_sandbox(root / "sandbox", records=0, seed=1, timeout=900, port=sandbox_port) as info:
        _prepare_environment(info.env(), root)
        os.environ.setdefault(UI_URL_ENV, url)  # alert links point at this UI
        PlatformStore().close()  # the platform's tables exist before the outbox sensor's first tick reads them
        for line in ui_header(url, info.instance_url, log, os.environ.get("DAGSTER_HOME"), alert_ui_url()):
            click.echo(line)
        # Our own handlers, also where SIGINT came in ignored (a background job of a script): Ctrl-C and
        # `kill` stop everything, and dagster dev starts with SIGINT at its default, so it can be stopped.
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"--- crm-sync ui {datetime.now(UTC).isoformat(timespec='seconds')}: "
                      f"{' '.join(ui_dagster_command(port))}\n")
            out.flush()
            process = subprocess.Popen(ui_dagster_command(port), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            if wait_for_ui(url, process):
                click.echo(f"Ready: open {url}")
            elif process.poll() is None:
                click.echo(f"The UI has not answered within {UI_START_TIMEOUT_S:.0f} s; see {log}")
            if process.poll() is None:
                process.wait()
        except KeyboardInterrupt:
            click.echo("Stopping...")
        finally:
            _stop_dagster(process)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if process.returncode not in (0, -signal.SIGINT, 130):
            click.echo(f"dagster dev exited with {process.returncode}; the end of {log}:\n{_log_tail(log)}",
                       err=True)
            raise SystemExit(1)
