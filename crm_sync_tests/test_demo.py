"""`crm-sync demo` as a user runs it: a short screen (bars, table, next step), Dagster's output in a named file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CRM_SYNC = Path(sys.executable).parent / "crm-sync"
MAX_LINES = 60


def test_the_demo_prints_bars_the_table_and_the_next_step_and_sends_dagster_to_a_file(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.embedded.yaml").read_text())
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_SYNC_", "SALESFORCE_"))}
    env.update({"DAGSTER_HOME": str(home), "CRM_SYNC_DATA": str(data), "COLUMNS": "120"})
    run = subprocess.run([str(CRM_SYNC), "demo", "--records", "1500"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert len(lines) < MAX_LINES, run.stdout
    assert run.stderr.strip() == "", run.stderr[-3000:]
    assert not any(word in run.stdout for word in ("DEBUG", "ASSET_MATERIALIZATION", "BetaWarning")), run.stdout

    log = data / "demo-dagster.log"
    assert f"Dagster's log: {log}" in run.stdout
    written = log.read_text()
    assert "ASSET_MATERIALIZATION" in written and "RUN_SUCCESS" in written

    sections = yaml.safe_load((data / "sections.yaml").read_text())
    start = datetime.now(UTC).date() - timedelta(days=2)
    assert sections["defaults"]["partition_start_date"] == start
    objects = [s["object"] for s in sections["sections"] if s.get("direction") != "off"]
    bars = [line for line in lines if "records" in line and "pages" in line]
    assert {line.split()[0] for line in bars} >= {"User", "Account", "Contact", "Case"}
    done = {line.split()[0]: re.search(r"(\d+)/(\d+)\s+records", line).groups() for line in bars}
    assert all(applied == total for applied, total in done.values()), done  # a bar's total is what is fetched
    table = lines.index(next(line for line in lines if line.startswith("section")))
    assert [line.split()[0] for line in lines[table + 1:table + 1 + len(objects)]] == [
        o for o in ("User", "Account", "Contact", "Note", "Task", "License__c", "Asset", "Project__c", "Case")
        if o in objects]
    assert "<- differs" not in run.stdout
    assert "make ui" in lines[-1]
