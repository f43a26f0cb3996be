"""Pure helpers of the wire protocol: retry decisions, limit headers, ingest CSV, results parsing."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime

import pytest

from crm_sync.salesforce.accounting import ApiCallCounter
from crm_sync.salesforce.bulk import (
    ESTIMATE_MARGIN,
    ESTIMATED_WAIT_MAX,
    _next_wait,
    _remaining_seconds,
    _result_sets,
    format_value,
    parse_bulk_error,
    rows_to_csv_chunks,
)
from crm_sync.salesforce.composite import collection_request, parse_collection_results
from crm_sync.salesforce.limits import ApiUsage, daily_api_usage, parse_limit_info
from crm_sync.salesforce.retry import Decision, RetryPolicy, classify


@pytest.mark.parametrize(
    ("status", "codes", "decision"),
    [
        (200, [], Decision.OK),
        (503, ["SERVER_UNAVAILABLE"], Decision.RETRY),
        (500, ["UNKNOWN_EXCEPTION"], Decision.RETRY),
        (400, ["UNABLE_TO_LOCK_ROW"], Decision.RETRY),
        (401, ["INVALID_SESSION_ID"], Decision.RELOGIN),
        (403, ["REQUEST_LIMIT_EXCEEDED"], Decision.LIMIT),
        (400, ["MALFORMED_QUERY"], Decision.FAIL),
        (404, ["NOT_FOUND"], Decision.FAIL),
    ],
)
def test_classify(status: int, codes: list[str], decision: Decision) -> None:
    assert classify(status, codes) is decision


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=5.0)
    rng = random.Random(7)
    delays = [policy.delay(n, rng) for n in (1, 2, 3, 4, 5)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0
    assert all(d <= 5.0 for d in delays)
    assert policy.can_retry(3) and not policy.can_retry(4)


def test_limit_info() -> None:
    assert parse_limit_info("api-usage=18/5000") == ApiUsage(18, 5000)
    assert parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=x)") == ApiUsage(25, 5000)
    assert parse_limit_info(None) is None and parse_limit_info("other=1") is None
    assert ApiUsage(4600, 5000).remaining_fraction == pytest.approx(0.08)
    assert daily_api_usage({"DailyApiRequests": {"Max": 100, "Remaining": 40}}) == ApiUsage(60, 100)


def test_counter_snapshots() -> None:
    counter = ApiCallCounter()
    counter.record("query", "Account")
    before = counter.snapshot()
    counter.record("query", "Account")
    counter.record("describe", "Contact")
    counter.record_login()
    delta = counter.snapshot() - before
    assert (delta.total, delta.logins) == (2, 1)
    assert delta.by_purpose == {"query": 1, "describe": 1}
    assert counter.for_object("Account") == 2 and counter.total == 3


def test_ingest_csv_values_and_chunks() -> None:
    assert format_value(None) == "#N/A"
    assert format_value(True) == "true"
    assert format_value(datetime(2024, 1, 31, 10, tzinfo=UTC)) == "2024-01-31T10:00:00.000Z"
    assert format_value(12.0) == "12" and format_value(1.25) == "1.25"
    rows = [{"Name": "a, \"b\"", "Phone": None}, {"Name": "c\nd"}]
    (payload, count), = rows_to_csv_chunks(rows)
    parsed = list(csv.reader(io.StringIO(payload.decode())))
    assert count == 2 and parsed == [["Name", "Phone"], ['a, "b"', "#N/A"], ["c\nd", ""]]
    chunks = list(rows_to_csv_chunks([{"Name": "x" * 50}] * 10, max_bytes=200))
    assert sum(n for _, n in chunks) == 10 and len(chunks) > 1
    assert all(len(p) <= 200 for p, _ in chunks)


def test_parse_bulk_error() -> None:
    assert parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --") == {
        "statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
        "fields": ["LastName"]}
    assert parse_bulk_error("FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount: must be positive: --")["fields"] == []
    assert parse_bulk_error("INVALID_ID_FIELD:invalid id") == {
        "statusCode": "INVALID_ID_FIELD", "message": "invalid id", "fields": []}


def test_collection_requests_and_results() -> None:
    method, path, params, body = collection_request("upsert", "Contact", [{"External_Id__c": "e1"}],
                                                    "External_Id__c")
    assert (method, path, params) == ("PATCH", "composite/sobjects/Contact/External_Id__c", None)
    assert body == {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "External_Id__c": "e1"}]}
    assert collection_request("delete", "Contact", ["003A", "003B"])[2] == {"ids": "003A,003B",
                                                                            "allOrNone": "false"}
    with pytest.raises(ValueError):
        collection_request("upsert", "Contact", [{}])
    with pytest.raises(ValueError):
        collection_request("create", "Contact", [{}] * 201)
    answer = [{"id": "003A", "success": True, "errors": []},
              {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "m",
                                             "fields": ["LastName"]}]}]
    ok, bad = parse_collection_results("create", answer, [{"LastName": "a"}, {}])
    assert ok.success and ok.created and ok.id == "003A" and ok.input == {"LastName": "a"}
    assert not bad.success and bad.errors[0]["fields"] == ["LastName"] and bad.id is None


def test_an_ingest_job_is_waited_for_at_its_own_pace_and_only_its_non_empty_results_are_read() -> None:
    assert _remaining_seconds({"numberRecordsProcessed": 25_000}, 100_000, 10.0) == 30.0  # 2,500/s: 75,000 left
    assert _remaining_seconds({"numberRecordsProcessed": 10}, 1_000_000, 10.0) == ESTIMATED_WAIT_MAX
    assert _remaining_seconds({"numberRecordsProcessed": 0}, 100_000, 10.0) is None  # no rate yet
    assert _remaining_seconds({}, 100_000, 10.0) is None and _remaining_seconds({"numberRecordsProcessed": 5}, None, 1) is None
    # a job seen nearly done is asked again soon after its estimated rest, not after the grown interval
    assert _next_wait(0.4, 7.5, 0.2) == pytest.approx(0.4 * ESTIMATE_MARGIN + 0.2)
    assert _next_wait(20.0, 3.0, 0.2) == pytest.approx(20.0 * ESTIMATE_MARGIN + 0.2)  # past its end, not short
    assert _next_wait(None, 3.0, 0.2) == 3.0  # no progress yet: the interval
    done = {"numberRecordsProcessed": 100, "numberRecordsFailed": 0}
    assert _result_sets(done, 100) == ["successfulResults"]
    assert _result_sets({**done, "numberRecordsFailed": 2}, 100) == ["successfulResults", "failedResults"]
    assert _result_sets({**done, "numberRecordsProcessed": 90}, 100) == ["successfulResults", "unprocessedrecords"]
    assert _result_sets({}, None) == ["successfulResults", "failedResults", "unprocessedrecords"]
