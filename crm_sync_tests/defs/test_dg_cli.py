"""`dg` (dagster-dg-cli) works on this project: `dg check defs` loads the definitions, `dg list defs` lists them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crm_sync.definitions import build_definitions

REPO = Path(__file__).resolve().parents[2]
DG = str(Path(sys.executable).parent / "dg")


def _dg(*args: str, home: Path) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text((REPO / "dagster.embedded.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.run([DG, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def test_dg_check_defs_loads_the_project(tmp_path: Path) -> None:
    checked = _dg("check", "defs", home=tmp_path / "home")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    assert "does not match" not in checked.stderr  # no venv warning when run as .venv/bin/dg


def test_dg_list_defs_shows_every_asset_job_schedule_and_sensor(tmp_path: Path) -> None:
    listed = _dg("list", "defs", "--json", home=tmp_path / "home")
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    defs = build_definitions()
    assert {a["asset_key"] for a in shown["assets"]} == {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {j["name"] for j in shown["jobs"]} >= {"full_fetch", "receive_every_10_minutes", "health_checks"}
    assert {s["name"] for s in shown["schedules"]} == {s.name for s in defs.schedules}
    assert {s["name"] for s in shown["sensors"]} == {s.name for s in defs.sensors}
    assert len(shown["asset_checks"]) == 5 * len(shown["assets"])
