"""The fault suite over the real components (sandbox over HTTPS, platform on SQLite and Postgres).

First the harness itself: a run without edits ends clean, hand-made failures are found as what they are,
and a push killed between write and acknowledgement really dies there. The randomized two-sided run is in
test_fault_suite_randomized.py (a module of its own, so it runs beside these). Fixtures: faults/conftest.py.
"""

from __future__ import annotations

import time

from crm_sync.sandbox.process import SandboxInfo
from crm_sync.sync.send.capture import edit_record
from crm_sync_tests.faults import runs
from crm_sync_tests.faults.oracle import DIVERGED, DUPLICATED, LOST, PLATFORM, RECORD, RecordTruth


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


def test_a_create_still_inside_the_commit_lag_after_its_push_counts_as_landed(suite_factory) -> None:
    """bench/faults.py seed 10 on SQLite: the query right after a push missed the record it created (invisible
    to queries for the commit lag), so the oracle took the create and two later edits of the status for one
    platform burst and expected the platform's value; the two edits set it back to the agreed value, which is
    no change, so Salesforce's edit stands (docs/sync-state.md, known limits)."""
    suite = suite_factory(rounds=0)
    suite.setup()
    suite.admin.clear_faults()
    suite.admin.set_faults(commit_lag_s=3)
    task = suite.platform_create("task", {"subject": "fz-lagged-create", "priority": "Normal", "status": "Completed"})
    assert suite.sync("push").error is None
    suite._resolve_salesforce_ids()
    assert task.salesforce_id and task.salesforce_id not in suite.landings  # invisible when the push ended
    suite.admin.clear_faults()
    time.sleep(3.5)
    suite.salesforce_edit(task, {"status": "Deferred"})
    time.sleep(suite.config.tie_seconds + 0.3)  # the platform's edits are clearly the later ones
    suite.platform_edit(task, {"status": "In Progress"})
    suite.platform_edit(task, {"status": "Completed"})  # back to the agreed value before any sync saw it
    suite.quiet()
    report = suite.compare()
    assert report.clean, [str(f) for f in report.findings]
    assert task.salesforce_id in suite.landings
