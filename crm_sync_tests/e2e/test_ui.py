"""End to end in a real browser: the Dagster UI and daemon (`dagster dev`) on the embedded default instance
(SQLite in a temporary DAGSTER_HOME, the repo's dagster.embedded.yaml), the crm_sync code location against a sandbox
org, and headless Debian Chromium driven by playwright.

It opens the asset graph, finds every receive section's asset and its five checks, launches one
partition's materialization from the UI and waits for the run to succeed. Screenshots are kept under
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
from pathlib import Path

import pytest
import requests
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
    with running_sandbox(base / "org", records=100, seed=4) as info:
        env = {**os.environ, **info.env(), "DAGSTER_HOME": str(home),
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
