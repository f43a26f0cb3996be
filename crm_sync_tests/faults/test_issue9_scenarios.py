"""The randomized run's findings before issue 9's fixes, each cut down to a few hand-made steps without faults.

Per database, one seeded org and platform: every scenario makes its steps on records of its own, one
after the other; then one quiet sync, and each test asks the oracle about its scenario's records only.
Each failed before issue 9's fixes; the defect numbers are the issue's.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

from crm_sync.sandbox.process import SandboxInfo, running_sandbox
from crm_sync_tests.conftest import POSTGRES_ADMIN, _admin_execute
from crm_sync_tests.faults import runs
from crm_sync_tests.faults.harness import FaultSuite, FaultSuiteConfig
from crm_sync_tests.faults.oracle import RecordTruth

ONE_CLOCK_TICK = 1.3  # more than the oracle's tie, so the order of two edits is clear


@pytest.fixture(scope="module")
def scenario_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    with running_sandbox(tmp_path_factory.mktemp("scenario-org"), records=0) as info:
        yield info


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def findings(request: pytest.FixtureRequest, scenario_sandbox: SandboxInfo,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    """Each scenario's findings after one quiet sync, per database."""
    work = tmp_path_factory.mktemp(f"scenarios-{request.param}")
    name = f"crm_sync_test_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        _admin_execute(f"CREATE DATABASE {name}")
        url = f"postgresql://{POSTGRES_ADMIN['user']}@{POSTGRES_ADMIN['host']}:{POSTGRES_ADMIN['port']}/{name}"
    else:
        url = f"sqlite:///{work / 'platform.db'}"
    namespace = os.environ.get("CRM_SYNC_KEY_NAMESPACE")
    os.environ["CRM_SYNC_KEY_NAMESPACE"] = f"fz{uuid.uuid4().hex[:8]}"
    made = FaultSuite(FaultSuiteConfig(records=60, rounds=0, live_start=True), scenario_sandbox, url, work)
    try:
        made.setup()
        made.admin.clear_faults()
        truths = {name: scenario(made) for name, scenario in SCENARIOS.items()}
        made.quiet()
        findings = made.compare().findings
        yield {name: [str(f) for f in findings if f.record in {t.name for t in ts}] for name, ts in truths.items()}
    finally:
        made.close()
        if namespace is None:
            os.environ.pop("CRM_SYNC_KEY_NAMESPACE", None)
        else:
            os.environ["CRM_SYNC_KEY_NAMESPACE"] = namespace
        if request.param == "postgres":
            _admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _record(suite: FaultSuite, model: str, number: int = 0) -> RecordTruth:
    live = [t for t in suite.truths[model] if t.platform_id and t.salesforce_id and not t.deleted
            and not suite._kept_out(t)]
    return live[number]


def defect_3_salesforce_edit_of_another_field_reverts_a_platform_edit(suite: FaultSuite) -> list[RecordTruth]:
    company = _record(suite, "company")
    suite.platform_edit(company, {"city": "platform city"})
    time.sleep(ONE_CLOCK_TICK)
    suite.salesforce_edit(company, {"phone": "salesforce phone"})
    time.sleep(ONE_CLOCK_TICK)
    suite.sync("tick")  # the receive rewrites every column, city included, before the push
    suite.sync("push")
    return [company]


def defect_5_system_edit_reverted_by_a_receive_and_never_sent(suite: FaultSuite) -> list[RecordTruth]:
    company = _record(suite, "company", 1)
    suite.salesforce_edit(company, {"phone": "salesforce phone"})
    time.sleep(ONE_CLOCK_TICK)
    suite.platform_edit(company, {"employees": 4242, "health_score": 42.5}, actor="system")
    time.sleep(ONE_CLOCK_TICK)
    suite.sync("tick")  # origin becomes salesforce, employees back to Salesforce's value
    suite.sync("nightly")
    return [company]


def nightly_push_overwrites_salesforce_changes_of_other_fields(suite: FaultSuite) -> list[RecordTruth]:
    """Defects 3 and 5 on the nightly path: it sends every send column of a `system` row, stale ones too."""
    company = _record(suite, "company", 2)
    suite.salesforce_edit(company, {"phone": "salesforce phone"})
    time.sleep(ONE_CLOCK_TICK)
    suite.platform_edit(company, {"health_score": 77.5}, actor="system")
    suite.sync("nightly")  # before any receive of the phone
    return [company]


def defect_16_automation_after_a_platform_edit_is_overwritten(suite: FaultSuite) -> list[RecordTruth]:
    task = _record(suite, "task")
    suite.platform_edit(task, {"description": "platform text"})
    time.sleep(ONE_CLOCK_TICK)
    suite.salesforce_edit(task, {"description": "automation text"}, how="automation")
    time.sleep(ONE_CLOCK_TICK)
    suite.sync("push")  # the conflict check reads LastModifiedDate, which automation leaves alone
    return [task]


def defect_15_older_unsent_edit_lost_to_the_newer_push(suite: FaultSuite) -> list[RecordTruth]:
    task = _record(suite, "task", 1)
    suite.platform_edit(task, {"description": "older edit"})
    assert suite.sync("push", runs.Kill(point="claimed")).killed  # its row stays leased by a dead run
    suite.platform_edit(task, {"priority": "High" if task.initial.get("priority") != "High" else "Low"})
    suite.sync("push")
    time.sleep(ONE_CLOCK_TICK)
    suite.sync("tick")  # the echo of the newer push
    suite.later(minutes=10)  # the dead run's lease is over
    suite.sync("push")
    return [task]


def defects_8_and_17_contact_created_by_a_killed_push_gets_a_second_row(suite: FaultSuite) -> list[RecordTruth]:
    contact = suite.platform_create("end_user", {"email": "fz-killed@fault.example", "last_name": "Killed"})
    assert suite.sync("push", runs.Kill(point="written")).killed
    time.sleep(ONE_CLOCK_TICK)
    suite.sync("tick")  # inserts Salesforce's new Contact as another row
    suite.later(minutes=10)
    return [contact]


def defect_6_task_created_by_a_killed_push_is_created_twice(suite: FaultSuite) -> list[RecordTruth]:
    task = suite.platform_create("task", {"subject": "fz-killed-task", "priority": "High", "status": "Not Started"})
    assert suite.sync("push", runs.Kill(point="written")).killed
    suite.later(minutes=10)  # the lease is over: the next push creates it again
    return [task]


def push_killed_after_its_write_then_salesforce_restores_the_agreed_value(suite: FaultSuite) -> list[RecordTruth]:
    """Found by bench/faults.py: a person in Salesforce sets a field back to the last-agreed value after a push
    wrote the platform's value and died before its acknowledgement; the next push took Salesforce's value for
    "unchanged since the base" and wrote the platform's value again over the person's newer edit."""
    company = _record(suite, "company", 3)
    agreed = company.initial.get("city")
    suite.sync("push")  # what earlier scenarios left pending, so that the next push writes this record first
    suite.platform_edit(company, {"city": "written, not acknowledged"})  # BillingCity holds 40 characters
    assert suite.sync("push", runs.Kill(point="written")).killed
    assert company.salesforce_id in suite.landings  # Salesforce holds it; the base does not know
    time.sleep(ONE_CLOCK_TICK)
    suite.salesforce_edit(company, {"city": agreed})  # a person restores the old value, later than the platform
    time.sleep(ONE_CLOCK_TICK)
    suite.sync("tick")
    suite.later(minutes=10)  # the dead run's lease is over
    suite.sync("push")
    return [company]


def push_killed_after_its_write_then_the_platform_sets_the_agreed_value_back(suite: FaultSuite) -> list[RecordTruth]:
    """bench/faults.py seed 8 on SQLite: a push wrote the platform's value and died before its acknowledgement;
    a user then set the field back to the last-agreed value, and the receive took Salesforce holding the push's
    own write for a Salesforce change (incoming differs from the base, the platform does not), so the user's
    newer edit was lost on both sides."""
    company = _record(suite, "company", 4)
    agreed = company.initial.get("city")
    suite.sync("push")  # what earlier scenarios left pending, so that the next push writes this record first
    suite.platform_edit(company, {"city": "written, not acknowledged"})
    assert suite.sync("push", runs.Kill(point="written")).killed
    assert company.salesforce_id in suite.landings  # Salesforce holds it; the base does not know
    time.sleep(ONE_CLOCK_TICK)
    suite.platform_edit(company, {"city": agreed})  # the user sets it back, the newest edit of the field
    time.sleep(suite.settings.defaults.settle_seconds + ONE_CLOCK_TICK)  # the write is out of the settle window
    suite.sync("tick")  # before any push: the echo of the dead push's write
    suite.later(minutes=10)  # the dead run's lease is over
    suite.sync("push")
    return [company]


def _system_title_then_newer_salesforce_title_then_user_phone(suite: FaultSuite, number: int) -> RecordTruth:
    contact = _record(suite, "end_user", number)
    suite.platform_edit(contact, {"title": f"system title {number}"}, actor="system")
    time.sleep(ONE_CLOCK_TICK)
    suite.salesforce_edit(contact, {"title": f"salesforce title {number}"})  # newer than the system write
    time.sleep(ONE_CLOCK_TICK)
    suite.platform_edit(contact, {"phone": f"+1 555 010{number}"})  # a user edit of another field, newest
    time.sleep(ONE_CLOCK_TICK)
    return contact


def newest_wins_at_receive_compares_the_fields_own_change_time(suite: FaultSuite) -> list[RecordTruth]:
    """Found by bench/faults.py: the receive took the record's newest platform edit (the phone) as the time
    of the title's system write, and the older system title won over Salesforce's newer one."""
    contact = _system_title_then_newer_salesforce_title_then_user_phone(suite, 0)
    suite.sync("tick")
    suite.sync("push")
    return [contact]


def newest_wins_at_push_compares_the_fields_own_change_time(suite: FaultSuite) -> list[RecordTruth]:
    """The same at push time: the phone's outbox row dated the title's change too."""
    contact = _system_title_then_newer_salesforce_title_then_user_phone(suite, 1)
    suite.sync("push")
    return [contact]


def newest_wins_at_push_dates_a_field_by_its_own_row_even_when_a_dead_run_leases_it(
        suite: FaultSuite) -> list[RecordTruth]:
    """bench/faults.py seed 5 on Postgres: a push claimed only the newer row (of another field) and dated
    the older field's change by it, so the platform's older value overwrote Salesforce's newer one."""
    task = _record(suite, "task", 2)
    suite.platform_edit(task, {"description": "platform, older"})
    assert suite.sync("push", runs.Kill(point="claimed")).killed  # its row stays leased by a dead run
    time.sleep(ONE_CLOCK_TICK)
    suite.salesforce_edit(task, {"description": "salesforce, newer"})
    time.sleep(ONE_CLOCK_TICK)
    suite.platform_edit(task, {"priority": "High" if task.initial.get("priority") != "High" else "Low"})
    suite.sync("push")  # claims the newest row only, and pushes the whole record
    return [task]


SCENARIOS = {f.__name__: f for f in (
    defect_3_salesforce_edit_of_another_field_reverts_a_platform_edit,
    defect_5_system_edit_reverted_by_a_receive_and_never_sent,
    nightly_push_overwrites_salesforce_changes_of_other_fields,
    defect_16_automation_after_a_platform_edit_is_overwritten,
    defect_15_older_unsent_edit_lost_to_the_newer_push,
    defects_8_and_17_contact_created_by_a_killed_push_gets_a_second_row,
    defect_6_task_created_by_a_killed_push_is_created_twice,
    push_killed_after_its_write_then_salesforce_restores_the_agreed_value,
    push_killed_after_its_write_then_the_platform_sets_the_agreed_value_back,
    newest_wins_at_receive_compares_the_fields_own_change_time,
    newest_wins_at_push_compares_the_fields_own_change_time,
    newest_wins_at_push_dates_a_field_by_its_own_row_even_when_a_dead_run_leases_it,
)}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_ends_as_the_merge_rules_say(findings: dict[str, list[str]], scenario: str) -> None:
    assert findings[scenario] == []
