"""The `lost` one-shot fault: the request is carried out, its answer never arrives in time (then 503)."""

from __future__ import annotations

import time

import pytest
import requests

from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.sandbox.server.faults import LOST_ANSWER_SECONDS


def _create(sandbox: SandboxInfo, sf, name: str, timeout: float) -> requests.Response:
    return sandbox.http_session().post(f"{sf.base_url}sobjects/Account", json={"Name": name}, timeout=timeout,
                                       headers={"Authorization": f"Bearer {sf.session_id}"})


def _named(sf, name: str) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Account WHERE Name = '{name}'")["records"]]


def test_a_lost_answer_keeps_the_write_and_times_the_caller_out(sandbox: SandboxInfo, sf, admin: SandboxAdmin,
                                                                 marker: str, clean_org_state: None) -> None:
    admin.add_fault("sobjects/Account", "lost", method="POST")
    assert admin.faults()["one_shots"][0]["kind"] == "lost"
    with pytest.raises(requests.Timeout):
        _create(sandbox, sf, f"Lost {marker}", timeout=1.0)
    assert len(_named(sf, f"Lost {marker}")) == 1  # written, though the caller never heard
    assert admin.faults()["injected"]["lost"] >= 1 and admin.faults()["one_shots"] == []
    second = _create(sandbox, sf, f"Kept {marker}", timeout=30)  # one shot: the next answer arrives
    assert second.status_code == 201 and _named(sf, f"Kept {marker}") == [second.json()["id"]]


def test_a_patient_caller_gets_503_after_the_hold(sandbox: SandboxInfo, sf, admin: SandboxAdmin, marker: str,
                                                   clean_org_state: None) -> None:
    admin.add_fault("sobjects/Account", "lost", method="POST")
    started = time.monotonic()
    answer = _create(sandbox, sf, f"Late {marker}", timeout=30)
    assert time.monotonic() - started >= LOST_ANSWER_SECONDS
    assert answer.status_code == 503 and answer.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert len(_named(sf, f"Late {marker}")) == 1


def test_a_lost_answer_fault_for_posts_lets_reads_pass(sf, admin: SandboxAdmin,
                                                       clean_org_state: None) -> None:
    admin.add_fault("sobjects/Account", "lost", method="POST")
    assert sf.Account.describe()["name"] == "Account"  # a GET passes; the fault still waits for a POST
    assert len(admin.faults()["one_shots"]) == 1
