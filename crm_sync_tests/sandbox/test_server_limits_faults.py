"""API call counting, the daily limit, and injected faults (503, row locks, latency, commit lag)."""

from __future__ import annotations

import time

import pytest
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from crm_sync.sandbox.admin_client import SandboxAdmin, SandboxAdminError
from crm_sync.sandbox.process import SandboxInfo


def _usage(sf) -> int:
    return sf.api_usage["api-usage"].used


def test_every_api_call_counts_one_and_admin_calls_none(sf, admin: SandboxAdmin) -> None:
    sf.limits()
    first = _usage(sf)
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert _usage(sf) == first + 1
    admin.counts()
    admin.api_usage()
    account = sf.Account
    account.describe()
    assert account.api_usage["api-usage"].used == first + 2
    assert admin.api_usage()["used"] >= first + 2


def test_soap_login_counts_one_and_oauth_tokens_none(sandbox: SandboxInfo, admin: SandboxAdmin,
                                                    clean_org_state: None) -> None:
    before = admin.api_usage()["used"]
    sandbox.salesforce("soap")
    assert admin.api_usage()["used"] == before + 1
    sandbox.oauth_token("password")
    sandbox.oauth_token("client_credentials")
    sandbox.oauth_token("refresh_token", refresh_token=admin.mint_refresh_token())
    assert admin.api_usage()["used"] == before + 1
    admin.set_limits(daily_api_requests=before + 1)  # spent: a SOAP login still gets in, and is counted
    sf = sandbox.salesforce("soap")
    assert admin.api_usage()["used"] == before + 2
    with pytest.raises(SalesforceRefusedRequest):
        sf.limits()


def test_limit_info_header_on_errors_too(sandbox: SandboxInfo, sf) -> None:
    response = sandbox.http_session().get(f"{sf.base_url}sobjects/Nope__c",
                                          headers={"Authorization": f"Bearer {sf.session_id}"})
    assert response.status_code == 404
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_spent_limit_refuses_requests(sf, admin: SandboxAdmin, clean_org_state: None) -> None:
    admin.set_limits(daily_api_requests=1000, used=999)
    sf.query("SELECT Id FROM Account LIMIT 1")  # the last one
    with pytest.raises(SalesforceRefusedRequest) as failure:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert failure.value.status == 403
    assert failure.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert admin.api_usage() == {"used": 1000, "max": 1000, "remaining": 0}
    admin.set_limits(used=0)
    assert sf.limits()["DailyApiRequests"] == {"Max": 1000, "Remaining": 999}


def test_one_shot_503(sf, admin: SandboxAdmin, clean_org_state: None) -> None:
    admin.add_fault("sobjects/Account/describe", "503", count=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as failure:
            sf.Account.describe()
        assert failure.value.status == 503
        assert failure.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.Account.describe()["name"] == "Account"
    assert admin.faults()["injected"]["503"] >= 2


def test_one_shot_lock_on_a_write(sf, admin: SandboxAdmin, marker: str, clean_org_state: None) -> None:
    record_id = sf.Account.create({"Name": marker})["id"]
    admin.add_fault(f"sobjects/Account/{record_id}", "lock", method="PATCH")
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.update(record_id, {"Name": f"{marker} 2"})
    assert failure.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.Account.get(record_id)["Name"] == marker
    assert sf.Account.update(record_id, {"Name": f"{marker} 2"}) == 204


def test_lock_rate_in_collections_is_per_record(sf, admin: SandboxAdmin, marker: str,
                                                clean_org_state: None) -> None:
    record_id = sf.Account.create({"Name": marker})["id"]
    admin.set_faults(rate_lock=1.0)
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.update(record_id, {"Industry": "Media"})
    assert failure.value.content == [{"message": f"unable to obtain exclusive access to this record or 1 records: "
                                                 f"{record_id}", "errorCode": "UNABLE_TO_LOCK_ROW"}]
    results = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Id": record_id, "Industry": "Media"}]})
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    admin.set_faults(rate_lock=0.3, seed=11)
    outcomes = [r["success"] for r in sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Account"}, "Name": f"{marker} {i}"} for i in range(40)]})]
    admin.set_faults(seed=11)
    again = [r["success"] for r in sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Account"}, "Name": f"{marker} {i}"} for i in range(40)]})]
    assert outcomes == again  # the same seed draws the same faults
    assert 0 < outcomes.count(False) < 40


def test_random_503_rate(sf, admin: SandboxAdmin, clean_org_state: None) -> None:
    admin.set_faults("rate_503=1.0")
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.limits()
    assert failure.value.status == 503
    admin.set_faults(rate_503=0)
    assert sf.limits()


def test_latency_is_added(sf, admin: SandboxAdmin, clean_org_state: None) -> None:
    admin.set_faults(latency_ms=300)
    started = time.monotonic()
    sf.limits()
    assert time.monotonic() - started >= 0.3  # a lower bound only: the sleep happened


def test_commit_lag_hides_new_records_with_their_write_time(sf, admin: SandboxAdmin, marker: str,
                                                            clean_org_state: None) -> None:
    admin.set_faults(commit_lag_s=2.5)
    record_id = sf.Account.create({"Name": marker})["id"]
    written = time.time()
    soql = f"SELECT Id, CreatedDate, SystemModstamp FROM Account WHERE Name = '{marker}'"
    assert sf.query(soql)["totalSize"] == 0
    while sf.query(soql)["totalSize"] == 0:
        assert time.time() - written < 30, "the record never became visible"
        time.sleep(0.2)
    record = sf.query(soql)["records"][0]
    assert record["Id"] == record_id
    assert record["SystemModstamp"] == record["CreatedDate"]
    visible_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time()))
    assert record["CreatedDate"][:19] < visible_at  # stamped at write time, seen later


def test_unknown_fault_settings_are_refused(admin: SandboxAdmin) -> None:
    with pytest.raises(SandboxAdminError) as failure:
        admin.set_faults("rate_999=1")
    assert failure.value.status == 400
    with pytest.raises(SandboxAdminError):
        admin.add_fault("query", "explode")


def test_clock_offset_moves_the_modstamps_of_new_writes(sf, admin: SandboxAdmin, marker: str) -> None:
    from datetime import UTC, datetime, timedelta

    from crm_sync.sandbox import timefmt

    try:
        answer = admin.set_clock_offset(-3 * 86400)
        assert answer["offset_seconds"] == -3 * 86400
        org_now = timefmt.parse_datetime(answer["now"])
        assert abs(org_now - (datetime.now(UTC) - timedelta(days=3))) < timedelta(seconds=5)
        created = sf.Account.create({"Name": f"{marker} shifted"})
        stamps = sf.Account.get(created["id"])
        for field in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            assert abs(timefmt.parse_datetime(stamps[field]) - org_now) < timedelta(seconds=5)
    finally:
        assert admin.set_clock_offset(0)["offset_seconds"] == 0
    assert abs(timefmt.parse_datetime(admin.clock()["now"]) - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(SandboxAdminError) as refused:
        admin._call("POST", "clock", {})
    assert refused.value.status == 400
