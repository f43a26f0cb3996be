"""Hard deletes (admin action, Bulk 2.0 `hardDelete`) and emptyRecycleBin: never in queryAll, still in /deleted.

The /deleted endpoint covers whole minutes up to the org's current one (as Salesforce answers), so the
module makes every delete first and then sets the org's clock past that minute (set back after the module).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from crm_sync.sandbox.admin_client import SandboxAdmin, SandboxAdminError


@dataclass
class Deleted:
    hard: str  # live record, admin hard delete
    bulk: list[str]  # Bulk API 2.0 hardDelete job
    emptied: str  # recycle bin, then emptied by Id
    binned: str  # recycle bin only (stays in queryAll)
    bulk_job: str
    started: datetime
    clock_offset_s: float  # the org's clock is ahead of the real one by this much

    def org_now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)


def _wait_for_the_next_minute() -> None:
    now = time.time()
    time.sleep(60 - now % 60 + 0.2)


@pytest.fixture(scope="module")
def deleted(sf, admin: SandboxAdmin) -> Iterator[Deleted]:
    if time.time() % 60 > 55:
        _wait_for_the_next_minute()  # keep every delete inside one minute
    started = datetime.now(UTC).replace(second=0, microsecond=0)
    made = [sf.Lead.create({"LastName": f"hard-delete {n}", "Company": "HD"})["id"] for n in range(5)]
    admin.hard_delete_record("Lead", made[0])
    results = sf.bulk2.Lead.hard_delete(records=[{"Id": made[1]}, {"Id": made[2]}], wait=0)
    assert [(r["numberRecordsProcessed"], r["numberRecordsFailed"]) for r in results] == [(2, 0)]
    sf.Lead.delete(made[3])
    sf.Lead.delete(made[4])
    assert admin.empty_recycle_bin([made[3]]) == [made[3]]
    now = datetime.now(UTC)
    offset = (now.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=0.2) - now).total_seconds()
    admin.set_clock_offset(offset)  # the minute of the deletes is over for the org
    try:
        yield Deleted(hard=made[0], bulk=made[1:3], emptied=made[3], binned=made[4], bulk_job=results[0]["job_id"],
                      started=started, clock_offset_s=offset)
    finally:
        admin.set_clock_offset(0)


def _query_all_ids(sf, ids: list[str]) -> set[str]:
    listed = ",".join(f"'{i}'" for i in ids)
    return {r["Id"] for r in sf.query_all(f"SELECT Id FROM Lead WHERE Id IN ({listed})", include_deleted=True)["records"]}


def test_hard_deleted_records_never_appear_in_query_all(sf, deleted: Deleted) -> None:
    purged = [deleted.hard, *deleted.bulk, deleted.emptied]
    assert _query_all_ids(sf, [*purged, deleted.binned]) == {deleted.binned}
    soql = "SELECT Id FROM Lead WHERE Id IN ({})".format(",".join(f"'{i}'" for i in purged))
    bulk_rows = [row for page in sf.bulk2.Lead.query_all(soql, wait=0) for row in csv.DictReader(io.StringIO(page))]
    assert bulk_rows == []


def test_hard_deleted_records_are_listed_by_deleted_in_its_window(sf, deleted: Deleted) -> None:
    answer = sf.Lead.deleted(deleted.started - timedelta(minutes=1), deleted.org_now())
    listed = {entry["id"]: entry["deletedDate"] for entry in answer["deletedRecords"]}
    for record_id in (deleted.hard, *deleted.bulk, deleted.emptied, deleted.binned):
        assert record_id in listed, record_id
        assert listed[record_id] <= answer["latestDateCovered"]
    later = sf.Lead.deleted(deleted.started + timedelta(minutes=1), deleted.org_now())
    assert not {deleted.hard, deleted.emptied} & {entry["id"] for entry in later["deletedRecords"]}


def test_hard_deleted_record_is_gone_for_reads_and_writes(sf, deleted: Deleted) -> None:
    from simple_salesforce.exceptions import SalesforceResourceNotFound

    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(deleted.hard)
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.update(deleted.hard, {"LastName": "back"})


def test_bulk_hard_delete_reports_each_row(sf, deleted: Deleted) -> None:
    ok = sf.bulk2.Lead.get_successful_records(deleted.bulk_job)
    assert {row["sf__Id"] for row in csv.DictReader(io.StringIO(ok))} == set(deleted.bulk)
    results = sf.bulk2.Lead.hard_delete(records=[{"Id": deleted.bulk[0]}], wait=0)
    assert results[0]["numberRecordsFailed"] == 1  # already gone
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(results[0]["job_id"]))))
    assert failed[0]["sf__Error"].startswith("NOT_FOUND")


def test_empty_recycle_bin_refuses_a_record_not_in_the_bin(sf, admin: SandboxAdmin, marker: str) -> None:
    live = sf.Lead.create({"LastName": marker, "Company": marker})["id"]
    binned = sf.Lead.create({"LastName": marker, "Company": marker})["id"]
    sf.Lead.delete(binned)
    with pytest.raises(SandboxAdminError) as failure:
        admin.empty_recycle_bin([binned, live])
    assert failure.value.status == 404 and live in failure.value.body[0]["message"]
    assert _query_all_ids(sf, [live, binned]) == {live, binned}  # nothing purged


def test_admin_hard_delete_of_an_unknown_record_is_not_found(admin: SandboxAdmin) -> None:
    with pytest.raises(SandboxAdminError) as failure:
        admin.hard_delete_record("Lead", "00Q8a00000ZZZZZZZZ")
    assert failure.value.status == 404
