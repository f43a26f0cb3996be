"""The `sandbox` command and the process runner: sandbox.json only once ready, restarts, failures."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sync.cli import main
from crm_sync.sandbox.process import SandboxInfo, load_sandbox_info, running_sandbox, stop_process


def test_sandbox_json_appears_only_when_serving_and_goes_on_stop(tmp_path: Path) -> None:
    info_path = tmp_path / "sandbox.json"
    with open(tmp_path / "sandbox.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "crm_sync.sandbox", "--data", str(tmp_path), "--port", "0", "--records", "20000"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not info_path.exists():
            assert process.poll() is None, (tmp_path / "sandbox.log").read_text()
            assert time.monotonic() < deadline, "no sandbox.json"
            time.sleep(0.01)
        info = load_sandbox_info(tmp_path)  # the moment it exists, the server answers
        assert info.admin.health() == {"ok": True}
        assert info.admin.counts()["Account"] > 0
        assert info.pid == process.pid
        assert stat.S_IMODE(os.stat(info_path).st_mode) == 0o600
        data = json.loads(info_path.read_text())
        assert {"instance_url", "username", "password", "security_token", "client_id", "client_secret",
                "ca_bundle", "admin_url", "pid"} <= set(data)
        assert stat.S_IMODE(os.stat(tmp_path / "tls" / "server-key.pem").st_mode) == 0o600
    finally:
        stop_process(process)
    assert process.returncode == 0
    assert not info_path.exists()
    log_text = (tmp_path / "sandbox.log").read_text()
    assert "sandbox ready" in log_text
    assert data["password"] not in log_text and data["client_secret"] not in log_text


def test_restart_keeps_credentials_and_data(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, faults="latency_ms=1") as first:
        sf = first.salesforce("oauth_password")
        record_id = sf.Account.create({"Name": "kept across restarts"})["id"]
        assert first.admin.faults()["config"]["latency_ms"] == 1
    assert not (tmp_path / "sandbox.json").exists()
    with running_sandbox(tmp_path) as second:
        assert (second.password, second.client_id, second.client_secret, second.security_token) == (
            first.password, first.client_id, first.client_secret, first.security_token)
        assert second.salesforce().Account.get(record_id)["Name"] == "kept across restarts"
    assert "kept across restarts" not in repr(second) and second.password not in repr(second)


def test_a_start_failure_raises_with_the_log(sandbox: SandboxInfo, tmp_path: Path) -> None:
    busy_port = int(sandbox.host.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="cannot serve on 127.0.0.1"), running_sandbox(tmp_path, port=busy_port):
        pass


def test_bad_fault_spec_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sandbox", "--data", str(tmp_path), "--faults", "rate_503=lots"])
    assert result.exit_code == 2
    assert "rate_503" in result.output
    assert not (tmp_path / "sandbox.json").exists()


def test_env_names_what_crm_sync_reads(sandbox: SandboxInfo) -> None:
    env = sandbox.env()
    assert env["SALESFORCE_INSTANCE_URL"] == sandbox.instance_url
    assert env["SALESFORCE_DOMAIN"] == sandbox.host
    assert Path(env["SALESFORCE_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert set(env) == {"SALESFORCE_INSTANCE_URL", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD",
                        "SALESFORCE_SECURITY_TOKEN", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET",
                        "SALESFORCE_DOMAIN", "SALESFORCE_CA_BUNDLE"}
