"""End to end in a real browser: the Dagster UI and daemon (`dagster dev`) on the embedded default instance
(SQLite in a temporary DAGSTER_HOME, the repo's dagster.embedded.yaml), the crm_sync code location against a sandbox
org, and headless Debian Chromium driven by playwright.

It opens the asset graph, finds every receive section's asset and its five checks, launches one
partition's materialization from the UI and waits for the run to succeed; then launches the full fetch
(one action, every partition) and a 3-day backfill, and checks that an asset's plots get differing
per-partition values. Screenshots are kept under
crm_sync_tests/artifacts/. Needs /usr/bin/chromium (apt-get install chromium) and the playwright package.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Page, expect, sync_playwright

from crm_sync.sandbox.process import running_sandbox
from crm_sync.settings import load_settings
from crm_sync.sync.health.checks import CHECK_NAMES

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "crm_sync_tests" / "artifacts"
DEFINITIONS_MODULE = "crm_sync.definitions"
LOCATION_NAME = "crm_sync"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 180
RUN_TIMEOUT_MS = 180_000
BACKFILL_TIMEOUT_S = 600
SEED_RECORDS = 300
DAILY_PARTITIONS = 3  # partition_start_date = today - 3: the first partition (all history) and 3 days after it
BACKFILLS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id status numPartitions } } } }"
MATERIALIZATIONS = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 100) { partition timestamp metadataEntries { label
    ... on IntMetadataEntry { intValue } } } } } }"""


def _recent_partitions_sections(path: Path) -> Path:
    """The packaged sections with a recent partition start (as the demo's) and no settle time."""
    base = load_settings()
    start = datetime.now(UTC).date() - timedelta(days=DAILY_PARTITIONS)
    settings = base.model_copy(update={"defaults": base.defaults.model_copy(
        update={"partition_start_date": start, "settle_seconds": 0})})
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return path


def _graphql(url: str, query: str, **variables: object) -> dict:
    answer = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    answer.raise_for_status()
    return answer.json()["data"]


def _wait_for_backfills(url: str, count: int) -> list[dict]:
    """Wait until `count` backfills exist and all have finished; return them (newest first)."""
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    backfills: list[dict] = []
    while time.monotonic() < deadline:
        backfills = _graphql(url, BACKFILLS)["partitionBackfillsOrError"]["results"]
        if len(backfills) >= count and all(b["status"].startswith("COMPLETED") or b["status"] in ("FAILED", "CANCELED")
                                           for b in backfills):
            return backfills
        time.sleep(3)
    raise AssertionError(f"backfills not finished within {BACKFILL_TIMEOUT_S} s: {backfills}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_ui(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Dagster UI did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """SIGINT to dagster dev's own process group (its webserver, daemon and code servers), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(20)


@pytest.fixture(scope="module")
def ui_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("ui")
    home = base / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.embedded.yaml").read_text())
    workspace = base / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: {DEFINITIONS_MODULE}\n"
                         f"      location_name: {LOCATION_NAME}\n      working_directory: {REPO}\n")
    sections = _recent_partitions_sections(base / "sections.yaml")
    with running_sandbox(base / "org", records=SEED_RECORDS, seed=4) as info:
        env = {**os.environ, **info.env(), "DAGSTER_HOME": str(home), "CRM_SYNC_SECTIONS": str(sections),
               "CRM_SYNC_PLATFORM_URL": f"sqlite:///{base / 'platform.db'}", "CRM_SYNC_DATA": str(base / "data")}
        port = _free_port()
        log = base / "dagster-dev.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(workspace), "-h", "127.0.0.1",
                 "-p", str(port)], cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for_ui(url, process, log)
            yield url
        finally:
            _stop(process)


@pytest.fixture(scope="module")
def page(ui_url: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000}, base_url=ui_url)
            page.set_default_timeout(60_000)
            # the UI may greet a new browser with a community dialog; close it whenever it shows
            page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
            yield page
        finally:
            browser.close()


def test_the_ui_shows_every_section_with_its_checks_and_materializes_a_partition(page: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    objects = [s.object for s in load_settings().enabled_sections() if s.receives]

    page.goto("/asset-groups")
    for obj in objects:
        expect(page.get_by_text(obj, exact=True).first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "ui_asset_graph.png"))

    for obj in objects:
        page.goto(f"/assets/salesforce/{obj}?view=checks")
        expect(page.get_by_text(f"Checks ({len(CHECK_NAMES)})")).to_be_visible()
        for check in CHECK_NAMES:
            expect(page.get_by_text(check, exact=True).first).to_be_visible()

    page.goto("/assets/salesforce/User")
    page.locator("button", has_text="Materialize").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Latest", exact=True).click()
    dialog.get_by_role("button", name="Launch 1 run").click()
    expect(page.get_by_text("Launched run")).to_be_visible()
    page.get_by_text("View", exact=True).first.click()
    page.wait_for_url("**/runs/**")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("salesforce / User").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "ui_partition_run_success.png"))


# The backfill daemon runs the assets layer by layer (User, then Account, ...), each layer a queued run.
@pytest.mark.timeout(BACKFILL_TIMEOUT_S * 2)
def test_a_full_fetch_and_a_3_day_backfill_from_the_ui_give_each_partition_its_own_plotted_values(
        page: Page, ui_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    today = datetime.now(UTC).date()
    every = [(today - timedelta(days=DAILY_PARTITIONS - i)).isoformat() for i in range(DAILY_PARTITIONS + 1)]
    before = len(_graphql(ui_url, BACKFILLS)["partitionBackfillsOrError"]["results"])

    page.goto(f"/locations/{LOCATION_NAME}/jobs/full_fetch/playground")  # an unpartitioned job: nothing to pick
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/**")
    [full] = _wait_for_backfills(ui_url, before + 1)[:1]
    assert full["status"] == "COMPLETED_SUCCESS" and full["numPartitions"] == len(every), full

    page.goto("/assets/salesforce/Contact")
    page.locator("button", has_text="Materialize").first.click()
    dialog = page.get_by_role("dialog")
    selection = dialog.get_by_role("textbox").first
    selection.fill(f"[{every[1]}...{every[-1]}]")
    selection.press("Enter")
    expect(dialog.get_by_text(f"{DAILY_PARTITIONS} partitions").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "ui_three_day_backfill.png"))
    dialog.get_by_role("button", name="Launch backfill").click()
    [three_days] = _wait_for_backfills(ui_url, before + 2)[:1]
    assert three_days["status"] == "COMPLETED_SUCCESS" and three_days["numPartitions"] == DAILY_PARTITIONS

    page.goto("/assets/salesforce/Contact")
    page.get_by_text("Plots", exact=True).first.click()  # the Metadata section: Table | Plots
    expect(page.get_by_text("records_fetched").first).to_be_visible()
    expect(page.get_by_text("dagster/row_count").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "ui_asset_plots.png"), full_page=True)

    # what the plots draw: each partition's latest materialization (from the same GraphQL API the page reads)
    events = _graphql(ui_url, MATERIALIZATIONS, key={"path": ["salesforce", "Contact"]})["assetOrError"]
    latest: dict[str, dict[str, int]] = {}
    for event in sorted(events["assetMaterializations"], key=lambda e: float(e["timestamp"])):
        latest[event["partition"]] = {m["label"]: m["intValue"] for m in event["metadataEntries"] if "intValue" in m}
    assert sorted(latest) == every
    fetched = [latest[day]["records_fetched"] for day in every]
    rows = [latest[day]["dagster/row_count"] for day in every]
    assert len(set(rows)) > 1 and rows[0] > max(rows[1:]), rows  # the first partition holds all history
    assert len(set(fetched)) > 1, fetched
