"""End to end: `crm-sync pause` / `resume` flip the toggles the Dagster UI of `make ui` shows.

The UI is started exactly as `make ui` starts it: `crm-sync ui` from the repository root (sandbox org,
`dagster dev` on the crm_sync.definitions location, an embedded instance in a temporary DAGSTER_HOME with the
repo's dagster.embedded.yaml), and headless Debian Chromium reads the schedule and sensor pages.
Needs /usr/bin/chromium (apt-get install chromium) and the playwright package.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Locator, Page, expect, sync_playwright

from crm_sync.demo import UI_DAGSTER_LOG
from crm_sync.sync.health.pause import DEFAULT_LOCATION_NAME
from crm_sync_tests.e2e.test_ui import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    _free_port,
    _stop,
    _wait_for_ui,
)

BIN = Path(sys.executable).parent
SCHEDULE = "receive_every_10_minutes_schedule"
SENSOR = "alerts"
UI_TIMEOUT_MS = 60_000


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
    base = tmp_path_factory.mktemp("make-ui")
    home = base / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.embedded.yaml").read_text())  # what `make ui` copies
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SALESFORCE_", "CRM_SYNC_"))}
    env.update(DAGSTER_HOME=str(home), CRM_SYNC_DATA=str(base / "data"))
    port, sandbox_port = _free_port(), _free_port()
    log = base / "crm-sync-ui.log"
    with open(log, "wb") as out:  # make ui UI_PORT=<port> SANDBOX_PORT=<sandbox_port>
        process = subprocess.Popen([str(BIN / "crm-sync"), "ui", "--port", str(port), "--sandbox-port",
                                    str(sandbox_port)], cwd=REPO, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_ui(url, process, log)
        yield MakeUi(url, env, log, base / "data" / UI_DAGSTER_LOG, sandbox_port)
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def page(make_ui: MakeUi) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000}, base_url=make_ui.url)
            page.set_default_timeout(60_000)
            page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
            yield page
        finally:
            browser.close()


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
