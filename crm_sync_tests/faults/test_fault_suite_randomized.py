"""The randomized two-sided fault run over the real components (sandbox over HTTPS, platform on SQLite and
Postgres): small enough for CI; bench/faults.py is the long one. Replay a failure with CRM_SYNC_FAULT_SEED=<seed>.

Fixtures (its own sandbox org, the suites): faults/conftest.py.
"""

from __future__ import annotations

from crm_sync_tests.faults.oracle import PLATFORM


def test_randomized_two_sided_run_loses_nothing(suite_factory) -> None:
    """Edits on both sides, 5% 503, 1% row locks, sessions of 20 s, commit lag, kills, a midnight, a pause."""
    result = suite_factory(records=200, rounds=6).run()
    print(result.summary(10))
    assert sum(result.changes[PLATFORM].values()) > 30 and sum(result.changes["salesforce"].values()) > 30
    assert result.runs["tick"] >= 8 and result.runs["push"] >= 8
    assert result.report.clean, result.summary(10)
