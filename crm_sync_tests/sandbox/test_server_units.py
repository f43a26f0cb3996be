"""The server's parts without HTTP: fault specs, API usage, page sizes, locators, org transactions."""

from __future__ import annotations

import io
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.org import Org
from crm_sync.sandbox.server.bulk_csv import line_query, write_results, write_results_with_csv_module
from crm_sync.sandbox.server.bulk_jobs import decode_locator, encode_locator
from crm_sync.sandbox.server.cursors import QueryCursors, batch_size_from_header
from crm_sync.sandbox.server.faults import FaultConfig, Faults
from crm_sync.sandbox.server.limits import ApiUsage
from crm_sync.sandbox.soql import compile_soql


def test_fault_spec_parsing() -> None:
    config = FaultConfig.parse("rate_503=0.05, rate_lock=0.02,latency_ms=20,commit_lag_s=30,session_ttl_s=60,seed=3")
    assert (config.rate_503, config.rate_lock, config.latency_ms, config.commit_lag_s, config.session_ttl_s,
            config.seed) == (0.05, 0.02, 20.0, 30.0, 60.0, 3)
    assert FaultConfig.parse(config.to_spec()) == config
    assert FaultConfig.parse(None) == FaultConfig()
    for bad in ("rate_503", "rate_503=2", "latency_ms=-1", "nope=1", "rate_lock=x", "session_ttl_s=0"):
        with pytest.raises(ValueError):
            FaultConfig.parse(bad)


def test_faults_are_reproducible_by_seed() -> None:
    def draws(seed: int) -> list[bool]:
        faults = Faults(FaultConfig(rate_503=0.5, seed=seed))
        return [faults.before_request("GET", "/x") is not None for _ in range(50)]

    assert draws(4) == draws(4)
    assert draws(4) != draws(5)


def test_one_shot_faults_match_path_and_method_and_run_out() -> None:
    faults = Faults()
    faults.add_one_shot("sobjects/Account", "lock", count=2, method="PATCH")
    assert faults.before_request("GET", "/services/data/v59.0/sobjects/Account/001") is None
    first = faults.before_request("PATCH", "/services/data/v59.0/sobjects/Account/001")
    assert first is not None and first.error_code == "UNABLE_TO_LOCK_ROW"
    assert faults.before_request("PATCH", "/services/data/v59.0/sobjects/Account/001") is not None
    assert faults.before_request("PATCH", "/services/data/v59.0/sobjects/Account/001") is None
    with pytest.raises(ValueError):
        faults.add_one_shot("x", "explode")


def test_api_usage_counts_and_starts_again_each_day() -> None:
    now = [datetime(2024, 5, 1, 23, 59, tzinfo=UTC)]
    usage = ApiUsage(2, clock=lambda: now[0])
    usage.spend()
    usage.spend()
    with pytest.raises(SalesforceError) as failure:
        usage.spend()
    assert (failure.value.status, failure.value.error_code) == (403, "REQUEST_LIMIT_EXCEEDED")
    assert usage.header() == "api-usage=2/2"
    now[0] += timedelta(minutes=2)
    usage.spend()
    assert usage.snapshot() == {"used": 1, "max": 2, "remaining": 1}
    assert usage.limits_resource()["DailyApiRequests"] == {"Max": 2, "Remaining": 1}


@pytest.mark.parametrize(("header", "size"), [(None, 2000), ("batchSize=500", 500), ("batchSize=5", 200),
                                              ("batchSize=99999", 2000), ("other=1", 2000)])
def test_batch_size_header(header: str | None, size: int) -> None:
    assert batch_size_from_header(header) == size


def test_bulk_locators_round_trip() -> None:
    assert decode_locator(encode_locator(123456)) == 123456
    with pytest.raises(SalesforceError):
        decode_locator("@@not-base64")


def test_org_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    org = Org(tmp_path)
    try:
        user = org.store.integration_user_id
        with pytest.raises(RuntimeError), org.writes.all_or_none():
            kept_inside = org.writes.create("Account", {"Name": "inside"}, user_id=user)
            assert org.store.get("Account", kept_inside)["Name"] == "inside"  # visible to its own thread
            with pytest.raises(SalesforceError):
                org.writes.create("Account", {}, user_id=user)  # fails alone (savepoint)
            raise RuntimeError("undo")
        assert org.store.count("Account") == 0
        with org.writes.all_or_none():
            org.writes.create("Account", {"Name": "one"}, user_id=user)
            with pytest.raises(SalesforceError):
                org.writes.create("Account", {"Name": "x" * 300}, user_id=user)
            org.writes.create("Account", {"Name": "two"}, user_id=user)
        assert org.store.count("Account") == 2
    finally:
        org.close()


@pytest.mark.parametrize(("delimiter", "terminator"), [(",", "\n"), ("\t", "\r\n")])
def test_fast_bulk_csv_equals_the_csv_module(tmp_path: Path, delimiter: str, terminator: str) -> None:
    org = Org(tmp_path)
    try:
        user = org.store.integration_user_id
        parent = org.store.create("Account", {"Name": 'Quote "Co", Ltd', "AnnualRevenue": 4267012000.0,
                                              "NumberOfEmployees": 12, "Health_Score__c": 0.1 + 0.2}, user_id=user)
        org.store.create("Account", {"Name": "Zürich Ünïcode\nsecond line", "AnnualRevenue": 1e-5}, user_id=user)
        org.store.create("Account", {"Name": "Plain", "AnnualRevenue": 100.0, "Health_Score__c": 54.3,
                                     "NumberOfEmployees": 0}, user_id=user)
        org.store.create("Contact", {"LastName": "Child", "AccountId": parent, "HasOptedOutOfEmail": True},
                         user_id=user)
        queries = [
            "SELECT Id, Name, AnnualRevenue, NumberOfEmployees, Health_Score__c, IsDeleted, Owner.Email "
            "FROM Account ORDER BY Name DESC",
            "SELECT LastName, Account.Name, Account.AnnualRevenue, HasOptedOutOfEmail, Birthdate FROM Contact",
        ]
        for soql in queries:
            compiled = compile_soql(soql, org.catalog, include_deleted=False, now=org.now())
            outputs = []
            for fast in (True, False):
                out, offsets = io.BytesIO(), array("q")
                with org.store.reader() as conn:
                    if fast:
                        assert line_query(compiled, org.catalog, conn, delimiter, terminator) is not None
                        end = write_results(compiled, org.catalog, conn, out, delimiter, terminator, offsets, 0)
                    else:
                        end = write_results_with_csv_module(compiled, conn, out, delimiter, terminator, offsets, 0,
                                                     lambda: False)
                outputs.append((out.getvalue(), list(offsets), end))
            assert outputs[0] == outputs[1]
            data, offsets, end = outputs[0]
            assert end == len(data) and offsets[0] == 0
            assert all(data[offset - len(terminator.encode()):offset] == terminator.encode()
                       for offset in offsets[1:])
    finally:
        org.close()


def test_query_cursors_idle_out_and_are_capped(tmp_path: Path) -> None:
    org = Org(tmp_path)
    try:
        for number in range(30):
            org.store.create("Account", {"Name": f"a{number:02d}"}, user_id=org.store.integration_user_id)
        now = [0.0]
        locators = iter(f"01g{number:015d}" for number in range(100))
        cursors = QueryCursors(org.store.reader, lambda: next(locators), idle_seconds=900, max_open=3,
                               clock=lambda: now[0])
        compiled = compile_soql("SELECT Name FROM Account ORDER BY Name", org.catalog, include_deleted=False,
                                now=org.now())
        base = "/services/data/v59.0"

        def locator_of(page: dict) -> tuple[str, int]:
            cursor_id, _, position = page["nextRecordsUrl"].rsplit("/", 1)[1].rpartition("-")
            return cursor_id, int(position)

        first = cursors.first_page(compiled, 10, base, "query")
        assert [r["Name"] for r in first["records"]] == [f"a{n:02d}" for n in range(10)]
        second = cursors.next_page(*locator_of(first), base)
        assert second["records"][0]["Name"] == "a10" and not second["done"]
        now[0] = 901.0  # idle longer than 15 minutes
        with pytest.raises(SalesforceError) as failure:
            cursors.next_page(*locator_of(second), base)
        assert failure.value.error_code == "INVALID_QUERY_LOCATOR"
        pages = [cursors.first_page(compiled, 10, base, "query") for _ in range(4)]  # one more than the cap
        assert len(cursors) == 3
        with pytest.raises(SalesforceError):
            cursors.next_page(*locator_of(pages[0]), base)  # the least recently used one went
        last = cursors.next_page(*locator_of(pages[-1]), base)
        final = cursors.next_page(*locator_of(last), base)
        assert final["done"] and final["records"][-1]["Name"] == "a29"
        cursors.close_all()
        assert len(cursors) == 0
    finally:
        org.close()


@pytest.mark.parametrize("content_type", ["JSON", "XML", "CSV"])
def test_bulk1_results_split_into_files_of_at_most_n_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            content_type: str) -> None:
    import json
    import time
    from xml.etree import ElementTree

    from crm_sync.sandbox.server import bulk1_jobs

    monkeypatch.setattr(bulk1_jobs, "RESULT_FILE_RECORDS", 4)
    org = Org(tmp_path)
    try:
        user = org.store.integration_user_id
        made = {org.writes.create("Account", {"Name": f"a{n}"}, user_id=user) for n in range(10)}
        # CSV without PK chunking is one file; with chunking each chunk splits like JSON and XML
        job = org.bulk1.create_job({"operation": "query", "object": "Account", "contentType": content_type},
                                   user_id=user, api_version="59.0",
                                   pk_chunking="chunkSize=100" if content_type == "CSV" else None)
        original = org.bulk1.add_batch(job, "SELECT Id FROM Account")
        batch = org.bulk1.batches(job)[-1]
        for _ in range(200):
            if batch.state == "Completed":
                break
            time.sleep(0.01)
        assert batch.state == "Completed" and batch.records == 10
        assert original.state == ("NotProcessed" if content_type == "CSV" else "Completed")
        seen: list[str] = []
        for result_id in org.bulk1.result_ids(job, batch):
            text = org.bulk1.result_path(job, batch, result_id).read_text()
            if content_type == "JSON":
                ids = [r["Id"] for r in json.loads(text)]
            elif content_type == "XML":
                ids = [e.text for e in ElementTree.fromstring(text).iter(
                    "{http://www.force.com/2009/06/asyncapi/dataload}Id")]
            else:
                ids = [line.strip('"') for line in text.splitlines()[1:]]
            assert 1 <= len(ids) <= 4
            seen += ids
        assert len(org.bulk1.result_ids(job, batch)) == 3 and set(seen) == made and len(seen) == 10
    finally:
        org.close()


def _bulk1_value(field, value):
    """What Bulk API 1.0 JSON holds for a REST value: epoch milliseconds for datetimes and dates."""
    if value is None or field is None:
        return value
    if field.type == "datetime":
        return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
    if field.type == "date":
        return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() * 1000)
    return value


def test_bulk1_json_records_are_the_rest_records_with_epoch_dates(tmp_path: Path) -> None:
    import json
    import time

    from crm_sync.sandbox.catalog import CATALOG

    org = Org(tmp_path)
    try:
        org.seed(1500, 5)
        contact = CATALOG.get("Contact")
        soql = (f"SELECT {', '.join(contact.field_names)}, Account.Name, Account.AnnualRevenue, "
                "Account.CreatedDate, Owner.IsActive FROM Contact ORDER BY Id")
        user = org.store.integration_user_id
        job = org.bulk1.create_job({"operation": "query", "object": "Contact", "contentType": "JSON"},
                                   user_id=user, api_version="59.0", pk_chunking=None)
        batch = org.bulk1.add_batch(job, soql)
        for _ in range(500):
            if batch.state != "Queued" and batch.state != "InProgress":
                break
            time.sleep(0.01)
        assert batch.state == "Completed", batch.state_message
        got = [r for rid in org.bulk1.result_ids(job, batch)
               for r in json.loads(org.bulk1.result_path(job, batch, rid).read_text())]
        compiled = compile_soql(soql, org.catalog, include_deleted=False, now=org.now())
        with org.store.reader() as conn:
            rest = [compiled.record(row) for row in conn.execute(compiled.sql, compiled.params)]
        assert len(got) == len(rest) > 100

        def converted(record: dict, sobject) -> dict:
            out = {}
            for key, value in record.items():
                if key == "attributes":
                    out[key] = value
                elif isinstance(value, dict):
                    parent = CATALOG.get(value["attributes"]["type"])
                    out[key] = converted(value, parent)
                else:
                    out[key] = _bulk1_value(sobject.field(key), value)
            return out

        assert got == [converted(record, contact) for record in rest]
        assert {type(r["Birthdate"]) for r in got} <= {int, type(None)} and isinstance(got[0]["CreatedDate"], int)
    finally:
        org.close()
