"""Change capture by triggers (user / system / salesforce origins), the outbox lease cycle and conflict rules,
on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from crm_sync.platform import ApplyCounts, PlatformStore
from crm_sync.platform.types import utc_now
from crm_sync.settings import Section, Settings
from crm_sync_tests.platform.helpers import account_id, account_row

LMD = "LastModifiedDate"


@pytest.fixture
def store(platform_url: str, default_settings: Settings) -> Iterator[PlatformStore]:
    with PlatformStore(platform_url, default_settings) as opened:
        yield opened


def changes(store: PlatformStore, model: str = "company") -> list[list[str]]:
    return [entry.changed_columns for entry in store.outbox_entries(model)]


def test_user_insert_lists_its_non_null_send_columns(store: PlatformStore) -> None:
    record_id = store.write_record("company", {"name": "Acme", "industry": "Retail", "owner_email": "x@y.z"},
                                   origin="user")
    [entry] = store.outbox_entries()
    assert (entry.model, entry.record_id, entry.origin) == ("company", record_id, "user")
    assert entry.changed_columns == ["name", "industry"]  # owner_email is receive-only: never sent
    assert entry.attempts == 0 and not entry.dead and entry.claim_token is None


def test_user_update_lists_only_changed_send_columns(store: PlatformStore) -> None:
    record_id = store.write_record("company", {"name": "Acme", "industry": "Retail"}, origin="user")
    store.write_record("company", {"name": "Acme", "industry": "Energy", "employees": 5}, origin="user",
                       record_id=record_id)
    store.write_record("company", {"name": "Acme"}, origin="user", record_id=record_id)  # no change
    store.write_record("company", {"owner_email": "o@example.com"}, origin="user", record_id=record_id)
    store.write_record("company", {"health_score": 42.0}, origin="user", record_id=record_id)
    assert changes(store) == [["name", "industry"], ["industry", "employees"], ["health_score"]]


def test_system_and_salesforce_writes_never_enter_the_outbox(store: PlatformStore) -> None:
    record_id = store.write_record("company", {"name": "Calc"}, origin="system")
    store.write_record("company", {"health_score": 12.0}, origin="system", record_id=record_id)
    store.write_record("company", {"name": "From SF"}, origin="salesforce", record_id=record_id)
    store.apply_page("Account", [account_row(1)], modstamp_field=LMD)
    store.apply_page("Account", [account_row(1, minutes=1, name="Changed in Salesforce")], modstamp_field=LMD)
    store.mark_deleted("Account", [account_id(1)], utc_now())
    assert store.outbox_entries() == []
    assert [r["id"] for r in store.changed_by_system("company", None)] == []  # last write was salesforce
    other = store.write_record("company", {"name": "Nightly"}, origin="system")
    assert [r["id"] for r in store.changed_by_system("company", utc_now() - timedelta(minutes=5))] == [other]


def test_user_change_to_a_received_row_is_captured(store: PlatformStore) -> None:
    store.apply_page("Account", [account_row(1)], modstamp_field=LMD)
    record = store.get_record("company", salesforce_id=account_id(1))
    store.write_record("company", {"website": "https://new.example"}, origin="user", record_id=record["id"])
    assert changes(store) == [["website"]]
    # receive rewrites with origin salesforce: nothing more is captured
    store.apply_page("Account", [account_row(1, minutes=1, website="https://sf.example")], modstamp_field=LMD)
    assert changes(store) == [["website"]]


def test_receive_only_models_have_no_capture(store: PlatformStore) -> None:
    store.write_record("ticket", {"subject": "Typed by a user"}, origin="user")
    store.write_record("team_member", {"email": "a@b.c"}, origin="user")
    assert store.outbox_entries() == []


def test_triggers_follow_the_sections_when_reopened(platform_url: str, default_settings: Settings) -> None:
    account = default_settings.section("Account")
    data = account.model_dump()
    data.update(direction="receive", fields=[{**f, "direction": None} for f in data["fields"]
                                             if f["column"] != "health_score"])
    receive_only = Section.model_validate(data)
    settings = Settings(sections=[receive_only if s is account else s for s in default_settings.sections])
    with PlatformStore(platform_url, default_settings):
        pass
    with PlatformStore(platform_url, settings) as store:
        assert store.last_migration.triggers_installed == ["company"]  # dropped
        store.write_record("company", {"name": "Quiet"}, origin="user")
        assert store.outbox_entries() == []
    with PlatformStore(platform_url, default_settings) as store:
        assert store.last_migration.triggers_installed == ["company"]  # back
        store.write_record("company", {"name": "Loud"}, origin="user")
        assert changes(store) == [["name"]]


def test_claim_complete_and_lease(store: PlatformStore) -> None:
    first = store.write_record("company", {"name": "A"}, origin="user")
    store.write_record("company", {"name": "B"}, origin="user")
    token, claimed = store.claim_outbox(limit=10, lease_seconds=60)
    assert [e.record_id for e in claimed] == [first, first + 1]
    assert all(e.claim_token == token for e in claimed)
    assert store.claim_outbox(limit=10)[1] == []  # leased: invisible to others
    assert store.complete_outbox([claimed[0].id], "someone-else") == 0
    assert store.complete_outbox([claimed[0].id], token) == 1
    later = utc_now() + timedelta(seconds=61)  # lease expired: the row is claimable again
    token2, again = store.claim_outbox(limit=10, now=later)
    assert [e.id for e in again] == [claimed[1].id] and token2 != token


def test_failure_backoff_dead_letter_and_revival(platform_url: str, default_settings: Settings) -> None:
    settings = default_settings.model_copy(update={"defaults": default_settings.defaults.model_copy(
        update={"max_attempts": 2, "retry_backoff_seconds": 10})})
    with PlatformStore(platform_url, settings) as store:
        record_id = store.write_record("company", {"name": "Bad"}, origin="user")
        error = {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing", "fields": ["Name"]}
        now = utc_now()
        token, [entry] = store.claim_outbox(limit=5, now=now)
        assert store.fail_outbox(entry.id, token, error, now=now) is False
        [after_one] = store.outbox_entries()
        assert after_one.attempts == 1 and after_one.last_error == error
        assert after_one.next_attempt_at == now + timedelta(seconds=10) and after_one.claim_token is None
        assert store.claim_outbox(limit=5, now=now)[1] == []  # backing off
        record = store.get_record("company", record_id=record_id)
        assert record["sync_status"] == "error"
        assert store.records_with_status("company", "error")[0]["sync_error"] == error

        token, [entry] = store.claim_outbox(limit=5, now=now + timedelta(seconds=11))
        assert store.fail_outbox(entry.id, token, error, now=now + timedelta(seconds=11)) is True
        [dead] = store.outbox_entries()
        assert dead.dead and dead.attempts == 2
        assert store.claim_outbox(limit=5, now=now + timedelta(days=1))[1] == []  # parked, still visible

        store.write_record("company", {"name": "Fixed"}, origin="user", record_id=record_id)
        entries = store.outbox_entries()
        assert [(e.dead, e.attempts) for e in entries] == [(False, 0), (False, 0)]  # revived + the new change
        assert len(store.claim_outbox(limit=5, now=utc_now() + timedelta(seconds=1))[1]) == 2


def test_newest_wins_keeps_a_newer_user_change(store: PlatformStore) -> None:
    store.apply_page("Account", [account_row(1, minutes=0)], modstamp_field=LMD)
    record_id = store.get_record("company", salesforce_id=account_id(1))["id"]
    store.write_record("company", {"name": "User edit"}, origin="user", record_id=record_id)
    user_time = store.outbox_entries()[0].created_at
    older_sf = account_row(1, name="SF edit", sf_last_modified=user_time - timedelta(seconds=5))
    assert store.apply_page("Account", [older_sf], modstamp_field=LMD) == ApplyCounts(skipped=1)
    assert store.get_record("company", record_id=record_id)["name"] == "User edit"
    [kept] = store.read_log(event="field_overwritten")
    assert (kept.details["platform_value"], kept.details["salesforce_value"]) == ("User edit", "SF edit")
    assert kept.details["winner"] == "platform"
    # The same Salesforce value again is no new change there: the platform's edit still stands.
    same_again = account_row(1, name="SF edit", sf_last_modified=user_time + timedelta(seconds=4))
    assert store.apply_page("Account", [same_again], modstamp_field=LMD) == ApplyCounts(unchanged=1)
    newer_sf = account_row(1, name="SF edit 2", sf_last_modified=user_time + timedelta(seconds=5))
    assert store.apply_page("Account", [newer_sf], modstamp_field=LMD) == ApplyCounts(updated=1)
    assert store.get_record("company", record_id=record_id)["name"] == "SF edit 2"


@pytest.mark.parametrize("rule, expected", [("salesforce_wins", "SF edit"), ("platform_wins", "User edit")])
def test_other_conflict_rules(platform_url: str, default_settings: Settings, rule: str, expected: str) -> None:
    account = default_settings.section("Account")
    ruled = Section.model_validate({**account.model_dump(), "conflict": rule})
    settings = Settings(sections=[ruled if s is account else s for s in default_settings.sections])
    with PlatformStore(platform_url, settings) as store:
        store.apply_page("Account", [account_row(1)], modstamp_field=LMD)
        record_id = store.get_record("company", salesforce_id=account_id(1))["id"]
        store.write_record("company", {"name": "User edit"}, origin="user", record_id=record_id)
        far_future = account_row(1, name="SF edit", sf_last_modified=utc_now() + timedelta(hours=1))
        store.apply_page("Account", [far_future], modstamp_field=LMD)
        assert store.get_record("company", record_id=record_id)["name"] == expected
