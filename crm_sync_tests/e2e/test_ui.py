"""End to end in a real browser: the Dagster UI and daemon started exactly as `make ui` starts them (`crm-sync ui`
from the repository root: a sandbox org, `dagster dev` on the crm_sync.definitions location, the embedded default
instance in a temporary DAGSTER_HOME with the repo's dagster.embedded.yaml), and headless Debian Chromium driven
by playwright. One start serves every test of the module (it is the expensive part).

The org is seeded (300 records) and the demo's sections file written (User, Account and Contact) with a recent
partition start and no settle time before `crm-sync ui` starts, which keeps both as they are. It opens the asset graph, finds every receive section's asset and its five checks, launches one
partition's materialization from the UI and waits for the run to succeed; then launches the full fetch
(one action, every partition) and a 3-day backfill, and checks that an asset's plots get differing
per-partition values. Then `crm-sync pause` / `resume` flip the toggles the UI shows. Screenshots are kept under
crm_sync_tests/artifacts/. Needs /usr/bin/chromium (apt-get install chromium) and the playwright package.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Locator, Page, expect, sync_playwright

from crm_sync.demo import DEMO_SECTIONS, UI_DAGSTER_LOG
from crm_sync.sandbox.process import running_sandbox
from crm_sync.settings import load_settings
from crm_sync.sync.health.checks import CHECK_NAMES
from crm_sync.sync.health.pause import DEFAULT_LOCATION_NAME

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "crm_sync_tests" / "artifacts"
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 180
RUN_TIMEOUT_MS = 180_000
BACKFILL_TIMEOUT_S = 600
STOP_GRACE_S = 5
SEED_RECORDS = 300
SCHEDULE = "receive_every_10_minutes_schedule"
SENSOR = "alerts"
UI_TIMEOUT_MS = 60_000
# Three of the packaged sections, one layer each (Contact -> Account -> User): what the UI shows and runs is the
# same for nine, and every backfill layer is a run the daemon launches (a process per step), minutes under load.
UI_OBJECTS = ("User", "Account", "Contact")
DAILY_PARTITIONS = 3  # partition_start_date = today - 3: the first partition (all history) and 3 days after it
BACKFILLS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id status numPartitions } } } }"
MATERIALIZATIONS = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 100) { partition timestamp metadataEntries { label
    ... on IntMetadataEntry { intValue } } } } } }"""


def _recent_partitions_sections(path: Path) -> Path:
    """The packaged sections of UI_OBJECTS with a recent partition start (as the demo's) and no settle time,
    at `path`."""
    base = load_settings()
    start = datetime.now(UTC).date() - timedelta(days=DAILY_PARTITIONS)
    settings = base.model_copy(update={
        "sections": [s for s in base.sections if s.object in UI_OBJECTS],
        "defaults": base.defaults.model_copy(update={"partition_start_date": start, "settle_seconds": 0})})
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


LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


def _wait_for_ui(url: str, process: subprocess.Popen, log: Path) -> None:
    """Until the webserver answers and its code locations have loaded (the UI shows no assets before that)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            entries = _graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                return
        except (requests.RequestException, KeyError, TypeError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Dagster UI did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """SIGINT to dagster dev's own process group (its webserver, daemon and code servers), then SIGKILL after a
    short grace: everything it wrote is in the test's temporary directory."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_GRACE_S)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(20)


@dataclass
class MakeUi:
    url: str
    env: dict[str, str]
    log: Path  # what `crm-sync ui` prints on the terminal
    dagster_log: Path  # where it sends dagster dev's output
    sandbox_port: int

    def crm_sync(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "crm-sync"), *args], cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def make_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeUi]:
    """`make ui UI_PORT=<port> SANDBOX_PORT=<sandbox_port>` with CRM_SYNC_DATA in a temporary directory."""
    base = tmp_path_factory.mktemp("make-ui")
    home = base / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.embedded.yaml").read_text())  # what `make ui` copies
    data = base / "data"
    data.mkdir()
    _recent_partitions_sections(data / DEMO_SECTIONS)  # `crm-sync ui` keeps a sections file it finds there
    with running_sandbox(data / "sandbox", records=SEED_RECORDS, seed=4):
        pass  # seeded once; `crm-sync ui` starts the same org again (seeding nothing, the org is not empty)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SALESFORCE_", "CRM_SYNC_"))}
    env.update(DAGSTER_HOME=str(home), CRM_SYNC_DATA=str(data))
    port, sandbox_port = _free_port(), _free_port()
    log = base / "crm-sync-ui.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(BIN / "crm-sync"), "ui", "--port", str(port), "--sandbox-port",
                                    str(sandbox_port)], cwd=REPO, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_ui(url, process, log)
        yield MakeUi(url, env, log, data / UI_DAGSTER_LOG, sandbox_port)
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def ui_url(make_ui: MakeUi) -> str:
    return make_ui.url


@pytest.fixture(scope="module")
def page(ui_url: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000}, base_url=ui_url)
            page.set_default_timeout(60_000)
            # what an expect waits for (5 s by default): the asset graph's layout alone takes longer under load
            expect.set_options(timeout=UI_TIMEOUT_MS)
            # the UI may greet a new browser with a community dialog; close it whenever it shows
            page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
            yield page
        finally:
            browser.close()


def test_the_ui_shows_every_section_with_its_checks_and_materializes_a_partition(page: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    objects = list(UI_OBJECTS)  # every receiving section of the sections file `crm-sync ui` runs

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

    page.goto(f"/locations/__repository__@{DEFAULT_LOCATION_NAME}/jobs/full_fetch/playground")  # an unpartitioned job: nothing to pick
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


def _location_names(url: str) -> list[str]:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    answer = requests.post(f"{url}/graphql", json={"query": query}, timeout=30).json()
    return [entry["name"] for entry in answer["data"]["workspaceOrError"]["locationEntries"]]


def _toggle(page: Page, kind: str, name: str) -> Locator:
    """The `Running` on/off switch of a schedule's or sensor's page in the UI (freshly loaded)."""
    page.goto(f"/locations/__repository__@{DEFAULT_LOCATION_NAME}/{kind}/{name}")
    row = page.locator("tr").filter(has=page.get_by_text("Running", exact=True))
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    return row.locator("input[type=checkbox]")


def test_make_ui_serves_the_location_pause_acts_on_without_an_instance_warning(make_ui: MakeUi) -> None:
    assert _location_names(make_ui.url) == [DEFAULT_LOCATION_NAME]
    assert "Found a dagster instance configuration" not in make_ui.dagster_log.read_text()


def test_make_ui_prints_a_short_header_and_sends_dagster_dev_to_the_log_it_names(make_ui: MakeUi) -> None:
    deadline = time.monotonic() + 30  # the "Ready" line follows the UI's first answer
    while "Ready: open" not in make_ui.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    terminal = make_ui.log.read_text()
    lines = terminal.splitlines()
    assert len(lines) <= 10, terminal
    assert f"Dagster UI:      {make_ui.url}" in terminal
    assert f"https://127.0.0.1:{make_ui.sandbox_port}" in terminal
    assert f"Alert links:     {make_ui.url}/runs/" in terminal  # what dagster dev's alerts sensor is given
    assert f"Dagster's log:   {make_ui.dagster_log}" in terminal
    assert "Ctrl-C" in terminal and lines[-1] == f"Ready: open {make_ui.url}"
    assert not any(word in terminal for word in ("dagster-webserver", "dagster.daemon", "Warning", "INFO"))
    written = make_ui.dagster_log.read_text()
    assert "Launching Dagster services" in written and f"Serving dagster-webserver on {make_ui.url}" in written
    assert "caught an error" not in written  # a fresh data dir: the outbox sensor finds the platform's tables


def test_pause_and_resume_flip_the_toggles_the_ui_shows(make_ui: MakeUi, page: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    expect(_toggle(page, "schedules", SCHEDULE)).to_be_checked()
    expect(_toggle(page, "sensors", SENSOR)).to_be_checked()

    paused = make_ui.crm_sync("pause")
    assert SCHEDULE in paused and f"code location {DEFAULT_LOCATION_NAME}" in paused
    expect(_toggle(page, "schedules", SCHEDULE)).not_to_be_checked()
    page.screenshot(path=str(ARTIFACTS / "ui_paused_schedule.png"))
    expect(_toggle(page, "sensors", SENSOR)).not_to_be_checked()
    for line in make_ui.crm_sync("sandbox-env").splitlines():  # what `eval "$(crm-sync sandbox-env)"` sets
        name, value = shlex.split(line.removeprefix("export "))[0].split("=", 1)
        make_ui.env[name] = value
    assert make_ui.env["SALESFORCE_INSTANCE_URL"] == f"https://127.0.0.1:{make_ui.sandbox_port}"
    assert make_ui.crm_sync("status").startswith("Status: Inactive")  # against make ui's sandbox org

    resumed = make_ui.crm_sync("resume")
    assert SCHEDULE in resumed and SENSOR in resumed
    expect(_toggle(page, "schedules", SCHEDULE)).to_be_checked()
    expect(_toggle(page, "sensors", SENSOR)).to_be_checked()
    page.screenshot(path=str(ARTIFACTS / "ui_resumed_schedule.png"))

    # a toggle the user flips in the UI is what the next pause records and the resume restores
    _toggle(page, "sensors", SENSOR).locator("xpath=..").click()  # the switch drawn over the hidden input
    expect(_toggle(page, "sensors", SENSOR)).not_to_be_checked()
    assert SENSOR not in make_ui.crm_sync("pause")
    make_ui.crm_sync("resume")
    expect(_toggle(page, "schedules", SCHEDULE)).to_be_checked()
    expect(_toggle(page, "sensors", SENSOR)).not_to_be_checked()
