"""The fault suite over the real components (sandbox over HTTPS, platform on SQLite and Postgres).

First the harness itself: a run without edits ends clean, hand-made failures are found as what they are,
and a push killed between write and acknowledgement really dies there. Then the randomized two-sided run
(small enough for CI; bench/faults.py is the long one). Replay a failure with CRM_SYNC_FAULT_SEED=<seed>.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_sync.sandbox.process import SandboxInfo, running_sandbox
from crm_sync.sync.send.capture import edit_record
from crm_sync_tests.faults import runs
from crm_sync_tests.faults.harness import FaultSuite, FaultSuiteConfig
from crm_sync_tests.faults.oracle import DIVERGED, DUPLICATED, LOST, PLATFORM, RECORD, RecordTruth

SEED = int(os.environ.get("CRM_SYNC_FAULT_SEED", "9"))


@pytest.fixture(scope="module")
def fault_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """One sandbox for the module; every suite resets and seeds it again."""
    with running_sandbox(tmp_path_factory.mktemp("fault-org"), records=0) as info:
        yield info


@pytest.fixture
def suite_factory(fault_sandbox: SandboxInfo, platform_url: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator:
    monkeypatch.setenv("CRM_SYNC_KEY_NAMESPACE", f"fz{tmp_path.name[-8:]}")
    made: list[FaultSuite] = []

    def make(**settings) -> FaultSuite:
        suite = FaultSuite(FaultSuiteConfig(**{"records": 120, "seed": SEED, **settings}), fault_sandbox,
                           platform_url, tmp_path / f"suite{len(made)}")
        made.append(suite)
        return suite

    yield make
    for suite in made:
        suite.close()
    fault_sandbox.admin.clear_faults()
    fault_sandbox.admin.set_clock_offset(0)


def test_a_run_without_edits_ends_clean(suite_factory) -> None:
    """Seed, full fetch under a clock days in the past, faults on and off, quiet sync: nothing to report."""
    result = suite_factory(rounds=0).run()
    assert result.report.compared_records > 120
    assert result.report.clean, result.summary()


def test_hand_made_failures_are_found_as_what_they_are(suite_factory, fault_sandbox: SandboxInfo) -> None:
    suite = suite_factory(rounds=0)
    suite.setup()
    suite.admin.clear_faults()
    companies = [t for t in suite.truths["company"] if t.platform_id and not t.deleted]
    created = edit_record(suite.store, "company", {"name": "fz hand", "account_number": "fzhand1"},
                          actor="user:test")
    suite.truths["company"].append(truth := RecordTruth("company", platform_id=created, token="fzhand1",
                                                        created_by=PLATFORM))
    truth.write(PLATFORM, {"name": "fz hand", "account_number": "fzhand1"}, suite.platform_now(), "create")
    suite.quiet()
    assert suite.compare().clean

    diverged, lost = companies[0], companies[1]
    fault_sandbox.admin.update_record("Account", diverged.salesforce_id, {"Phone": "made by hand"})  # never synced
    lost.write(PLATFORM, {"city": "an edit that was dropped"}, suite.platform_now(), "user")  # never made
    suite.store.write_record("company", {"name": "fz hand", "account_number": "fzhand1"}, origin="salesforce")
    found = {(f.kind, f.record, f.column) for f in suite.compare().findings}
    assert found == {(DIVERGED, diverged.salesforce_id, "phone"), (LOST, lost.salesforce_id, "city"),
                     (DUPLICATED, truth.name, RECORD)}


def test_a_push_killed_between_write_and_acknowledgement_dies_there(suite_factory) -> None:
    suite = suite_factory(rounds=0)
    suite.setup()
    suite.admin.clear_faults()
    target = next(t for t in suite.truths["company"] if t.platform_id and not t.deleted)
    edit_record(suite.store, "company", {"city": "killed after write"}, actor="user:test",
                record_id=target.platform_id)
    suite.store.engine.dispose()
    outcome = runs.run_in_child("push", suite.context(), runs.Kill(point="written"), suite.work_dir)
    assert outcome.killed is not None and outcome.error is None
    written = suite.sf.Account.get(target.salesforce_id)
    assert written["BillingCity"] == "killed after write"  # Salesforce wrote it ...
    rows = [e for e in suite.store.outbox_entries("company") if e.record_id == target.platform_id]
    assert rows and rows[0].claim_token  # ... and the outbox row is still claimed: no acknowledgement


def test_randomized_two_sided_run_loses_nothing(suite_factory) -> None:
    """Edits on both sides, 5% 503, 1% row locks, sessions of 20 s, commit lag, kills, a midnight, a pause."""
    result = suite_factory(records=200, rounds=6).run()
    print(result.summary(10))
    assert sum(result.changes[PLATFORM].values()) > 30 and sum(result.changes["salesforce"].values()) > 30
    assert result.runs["tick"] >= 8 and result.runs["push"] >= 8
    assert result.report.clean, result.summary(10)
