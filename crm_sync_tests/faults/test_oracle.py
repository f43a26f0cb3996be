"""The fault suite's oracle on hand-made cases: each kind of failure is reported as that kind, and a
correct end state is reported clean (so a clean verdict of the randomized run means something)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_sync.settings import ConflictRule, FieldType
from crm_sync_tests.faults.oracle import (
    DIVERGED,
    DUPLICATED,
    LOST,
    PLATFORM,
    RECORD,
    SALESFORCE,
    STUCK,
    ModelRules,
    RecordTruth,
    Row,
    compare_model,
    expected_values,
    normalize,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = ModelRules("company", "Account", ConflictRule.NEWEST_WINS,
                   two_way={"name": FieldType.STRING, "phone": FieldType.STRING, "employees": FieldType.INTEGER},
                   send_only={"health_score": FieldType.FLOAT}, receive_only={"owner_sf_id": FieldType.REFERENCE},
                   token_column="name")
START = {"name": "Acme", "phone": "1", "employees": 5, "health_score": None, "owner_sf_id": "005A"}


def _truth(**changes) -> RecordTruth:
    return RecordTruth("company", salesforce_id="001A", platform_id=1, initial=dict(START), **changes)


def _rows(platform: dict | None = None, salesforce: dict | None = None, *, pending: bool = False,
          deleted: tuple[bool, bool] = (False, False)) -> tuple[list[Row], list[Row]]:
    return ([Row("1", "001A", deleted[0], {**START, **(platform or {})}, pending=pending)],
            [Row("001A", "001A", deleted[1], {**START, **(salesforce or {})})])


def _kinds(truth: RecordTruth, rows: tuple[list[Row], list[Row]]) -> list[tuple[str, str]]:
    report = compare_model(RULES, [truth], *rows)
    return [(f.kind, f.column) for f in report.findings]


def test_untouched_equal_sides_are_clean() -> None:
    report = compare_model(RULES, [_truth()], *_rows())
    assert report.clean and report.compared_fields == len(RULES.columns)


def test_an_edit_gone_from_both_sides_is_lost() -> None:
    truth = _truth()
    truth.write(PLATFORM, {"phone": "p1"}, T0, "user")
    assert _kinds(truth, _rows()) == [(LOST, "phone")]


def test_sides_that_differ_are_diverged_or_stuck_when_work_is_pending() -> None:
    truth = _truth()
    truth.write(PLATFORM, {"phone": "p1"}, T0, "user")
    assert _kinds(truth, _rows({"phone": "p1"})) == [(DIVERGED, "phone")]
    assert _kinds(truth, _rows({"phone": "p1"}, pending=True)) == [(STUCK, "phone")]
    assert _kinds(_truth(), _rows(salesforce={"owner_sf_id": "005B"})) == [(DIVERGED, "owner_sf_id")]


def test_a_second_platform_row_for_one_record_is_duplicated() -> None:
    truth = RecordTruth("company", platform_id=1, token="fz1", created_by=PLATFORM)
    truth.write(PLATFORM, {"name": "fz1", "phone": "p1"}, T0, "create")
    platform = [Row("1", None, False, {**START, "name": "fz1", "phone": "p1"}),
                Row("2", "001B", False, {**START, "name": "fz1", "phone": "p1"})]
    salesforce = [Row("001B", "001B", False, {**START, "name": "fz1", "phone": "p1"})]
    report = compare_model(RULES, [truth], platform, salesforce)
    assert [(f.kind, f.column) for f in report.findings] == [(DUPLICATED, RECORD)]
    assert report.findings[0].platform == ["1", "2"]
    twice_in_salesforce = [*salesforce, Row("001C", "001C", False, dict(salesforce[0].values))]
    kinds = [f.kind for f in compare_model(RULES, [truth], platform[1:], twice_in_salesforce).findings]
    assert kinds == [DUPLICATED]


def test_a_create_that_never_arrived_is_lost_or_stuck_while_queued() -> None:
    truth = RecordTruth("company", platform_id=1, token="fz1", created_by=PLATFORM)
    truth.write(PLATFORM, {"name": "fz1"}, T0, "create")
    platform = [Row("1", None, False, {**START, "name": "fz1"})]
    assert [f.kind for f in compare_model(RULES, [truth], platform, []).findings] == [LOST]
    platform[0].pending = True
    assert [f.kind for f in compare_model(RULES, [truth], platform, []).findings] == [STUCK]


def test_a_salesforce_record_without_a_platform_row_is_lost() -> None:
    report = compare_model(RULES, [], [], [Row("001Z", "001Z", False, dict(START))])
    assert [(f.kind, f.record) for f in report.findings] == [(LOST, "001Z")]


def test_a_delete_not_received_is_diverged() -> None:
    truth = _truth(deleted=True, ever_deleted=True)
    assert _kinds(truth, _rows(deleted=(False, True))) == [(DIVERGED, "<deleted>")]
    assert _kinds(truth, _rows(deleted=(True, True))) == []


def test_different_fields_of_one_record_never_conflict() -> None:
    truth = _truth()
    truth.write(PLATFORM, {"phone": "p1"}, T0, "user")
    truth.write(SALESFORCE, {"employees": 9}, T0 + timedelta(minutes=1), "person")
    assert expected_values(truth, "phone", RULES) == {"p1"}
    assert expected_values(truth, "employees", RULES) == {9}
    assert _kinds(truth, _rows({"phone": "p1", "employees": 9}, {"phone": "p1", "employees": 9})) == []
    # the case of issue 9, defect 3: the receive of Salesforce's edit took back the platform's field
    assert _kinds(truth, _rows({"employees": 9}, {"employees": 9})) == [(LOST, "phone")]


def test_same_field_newest_wins_on_one_clock() -> None:
    truth = _truth()
    truth.write(SALESFORCE, {"phone": "s1"}, T0, "person")
    truth.write(PLATFORM, {"phone": "p1"}, T0 + timedelta(minutes=1), "user")
    assert expected_values(truth, "phone", RULES) == {"p1"}
    truth.write(SALESFORCE, {"phone": "s2"}, T0 + timedelta(minutes=2), "automation")
    assert expected_values(truth, "phone", RULES) == {"s2"}


def test_same_field_with_a_shifted_org_clock_accepts_the_real_later_write_too() -> None:
    """Org stamps days behind: a platform edit agreed before a later Salesforce edit may lose to it."""
    truth = _truth()
    truth.write(PLATFORM, {"phone": "p1"}, T0, "user", real=T0)
    truth.write(SALESFORCE, {"phone": "s1"}, T0 - timedelta(days=3), "person", real=T0 + timedelta(minutes=1))
    assert expected_values(truth, "phone", RULES) == {"p1", "s1"}


def test_salesforce_changing_the_record_later_makes_its_older_field_value_acceptable() -> None:
    truth = _truth()
    truth.write(SALESFORCE, {"phone": "s1"}, T0, "person")
    truth.write(PLATFORM, {"phone": "p1"}, T0 + timedelta(minutes=1), "user")
    truth.write(SALESFORCE, {"employees": 7}, T0 + timedelta(minutes=2), "person")
    assert expected_values(truth, "phone", RULES) == {"p1", "s1"}


def test_ties_accept_both_values_but_the_sides_must_still_agree() -> None:
    truth = _truth()
    truth.write(SALESFORCE, {"phone": "s1"}, T0, "person")
    truth.write(PLATFORM, {"phone": "p1"}, T0 + timedelta(milliseconds=300), "user")
    assert expected_values(truth, "phone", RULES) == {"p1", "s1"}
    assert _kinds(truth, _rows({"phone": "p1"}, {"phone": "s1"})) == [(DIVERGED, "phone")]


def test_send_only_fields_hold_the_platform_value_once_it_wrote_one() -> None:
    truth = _truth()
    assert _kinds(truth, _rows(salesforce={"health_score": 40.0})) == []  # never written: not the sync's
    truth.write(PLATFORM, {"health_score": 80.5}, T0, "system")
    assert _kinds(truth, _rows({"health_score": 80.5}, {"health_score": 40.0})) == [(DIVERGED, "health_score")]


def test_a_send_only_field_set_and_set_back_before_any_push_counts_as_never_written() -> None:
    """bench/faults.py seed 12 on SQLite: a system write set health_score and set it back to its base before a
    push delivered it; nothing is sent, so Salesforce keeps the value it had, as for a field never written."""
    truth = _truth()
    truth.write(PLATFORM, {"health_score": 5314.25}, T0, "system", before={"health_score": None})
    truth.write(PLATFORM, {"health_score": None}, T0 + timedelta(seconds=1), "system", before={"health_score": 5314.25})
    truth.group_platform_bursts([])
    assert _kinds(truth, _rows({"health_score": None}, {"health_score": 14.2})) == []

    delivered = _truth()
    delivered.write(PLATFORM, {"health_score": 5314.25}, T0, "system", before={"health_score": None})
    delivered.write(PLATFORM, {"health_score": None}, T0 + timedelta(seconds=9), "system",
                    before={"health_score": 5314.25})
    delivered.group_platform_bursts([(T0 + timedelta(seconds=2), T0 + timedelta(seconds=3))])  # a push between
    assert _kinds(delivered, _rows({"health_score": None}, {"health_score": 14.2})) == [(DIVERGED, "health_score")]


@pytest.mark.parametrize(("value", "field_type", "expected"), [
    ("", FieldType.STRING, None), (3, FieldType.FLOAT, 3.0), ("12.0", FieldType.INTEGER, 12),
    ("true", FieldType.BOOLEAN, True), (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), FieldType.DATE, "2026-01-02"),
    ("2026-01-02T03:04:05.000+0000", FieldType.DATETIME, "2026-01-02T03:04:05+00:00"),
])
def test_normalize_makes_platform_and_salesforce_forms_comparable(value, field_type, expected) -> None:
    assert normalize(value, field_type) == expected


def test_a_platform_edit_changed_back_before_any_sync_may_count_as_no_change() -> None:
    truth = _truth()
    truth.write(SALESFORCE, {"phone": "2"}, T0, "person")
    truth.write(PLATFORM, {"phone": "9"}, T0 + timedelta(seconds=10), "user", burst=4, before={"phone": "1"})
    truth.write(PLATFORM, {"phone": "1"}, T0 + timedelta(seconds=11), "user", burst=4, before={"phone": "9"})
    assert expected_values(truth, "phone", RULES) == {"1", "2"}

    synced_between = _truth()
    synced_between.write(SALESFORCE, {"phone": "2"}, T0, "person")
    synced_between.write(PLATFORM, {"phone": "9"}, T0 + timedelta(seconds=10), "user", burst=4, before={"phone": "1"})
    synced_between.write(PLATFORM, {"phone": "1"}, T0 + timedelta(seconds=11), "user", burst=5, before={"phone": "9"})
    assert expected_values(synced_between, "phone", RULES) == {"1"}


def test_a_salesforce_edit_changed_back_before_a_receive_saw_it_may_count_as_no_change() -> None:
    """Salesforce names the record that changed, never the field: a field that went 1 -> 2 -> 1 before any
    receive saw the 2 is back at its base, so the platform's edit of it may stand (bench/faults.py seeds 4
    and 5 on Postgres). A receive sees writes made before it started and stamped before its window's end."""
    def truth_with(receives):
        truth = _truth()
        truth.write(PLATFORM, {"phone": "9"}, T0, "user", burst=4, before={"phone": "1"})
        truth.write(SALESFORCE, {"phone": "2"}, T0 + timedelta(seconds=2), "api", before={"phone": "1"})
        truth.write(SALESFORCE, {"phone": "1"}, T0 + timedelta(seconds=6), "person", before={"phone": "2"})
        truth.group_salesforce_bursts(receives)
        return truth

    assert expected_values(truth_with([]), "phone", RULES) == {"1", "9"}
    settling = [(T0 + timedelta(seconds=3), T0 + timedelta(seconds=4), T0 + timedelta(seconds=1))]  # window too early
    assert expected_values(truth_with(settling), "phone", RULES) == {"1", "9"}
    overwritten = [(T0 + timedelta(seconds=5), T0 + timedelta(seconds=7), T0 + timedelta(seconds=3))]  # read the 1
    assert expected_values(truth_with(overwritten), "phone", RULES) == {"1", "9"}
    saw_it = [(T0 + timedelta(seconds=4), T0 + timedelta(seconds=5), T0 + timedelta(seconds=3))]
    assert expected_values(truth_with(saw_it), "phone", RULES) == {"1"}


def test_a_platform_edit_changed_back_before_a_push_delivered_it_may_count_as_no_change() -> None:
    """False -> True -> False on the platform while every push between was killed before it wrote the
    record: no change against the base, so Salesforce's True made meanwhile stands (bench/faults.py seed 7,
    Postgres). A push that delivered the True in between ends the burst."""
    def truth_with(landings):
        truth = _truth()
        truth.write(PLATFORM, {"phone": "9"}, T0, "user", before={"phone": "1"})
        truth.write(SALESFORCE, {"phone": "2"}, T0 + timedelta(seconds=20), "person")
        truth.write(PLATFORM, {"phone": "1"}, T0 + timedelta(seconds=22), "user", before={"phone": "9"})
        truth.group_platform_bursts(landings)
        return truth

    assert expected_values(truth_with([]), "phone", RULES) == {"1", "2"}
    killed_before_writing_it = [(T0 + timedelta(seconds=1), T0 + timedelta(seconds=23))]  # ended after the next edit
    assert expected_values(truth_with(killed_before_writing_it), "phone", RULES) == {"1", "2"}
    delivered = [(T0 + timedelta(seconds=1), T0 + timedelta(seconds=2))]
    assert expected_values(truth_with(delivered), "phone", RULES) == {"1"}
