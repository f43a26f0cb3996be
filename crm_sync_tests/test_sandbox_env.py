"""`crm-sync sandbox-env`: a fresh shell that evaluates its lines runs `crm-sync status` against the running org."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from crm_sync.sandbox.process import running_sandbox
from crm_sync.sandbox_env import sandbox_env_command

CRM_SYNC = str(Path(sys.executable).parent / "crm-sync")


def test_a_fresh_shell_reaches_the_running_sandbox_with_the_printed_settings(tmp_path: Path) -> None:
    with running_sandbox(tmp_path / "sandbox", records=50, seed=3) as info:
        printed = CliRunner().invoke(sandbox_env_command, env={"CRM_SYNC_DATA": str(tmp_path),
                                                               "DAGSTER_HOME": str(tmp_path / "home")})
        assert printed.exit_code == 0, printed.output
        lines = printed.output.splitlines()
        assert all(line.startswith("export ") for line in lines)
        assert f"export SALESFORCE_INSTANCE_URL={info.instance_url}" in lines
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        fresh = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # nothing of this process's environment
        shell = subprocess.run(["bash", "-c", f'eval "$(cat)"; "{CRM_SYNC}" status --json'], input=printed.output,
                               env=fresh, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert shell.returncode == 0, shell.stderr
    report = json.loads(shell.stdout)
    assert report["status"] == "Active", report["reasons"]
    assert report["api_used"] is not None and report["api_max"] > 0  # it asked the org for its API use
    assert report["credentials"].endswith(f"login to {info.host}")


def test_without_a_running_sandbox_it_says_how_to_start_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox_env_command, env={"CRM_SYNC_DATA": str(tmp_path)})
    assert result.exit_code != 0
    assert "no sandbox is running" in result.output and "make ui" in result.output
    assert "export" not in result.output
