"""The raw landing on object storage: a receive lands its pages in S3 and a replay on another machine applies
them without API calls; on SQLite and Postgres, against the sandbox over HTTPS and a real S3-compatible
server (moto's server mode in its own process on 127.0.0.1), reached by s3fs over HTTP. Nothing is mocked.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from crm_sync.platform import PlatformStore
from crm_sync.platform.landing import LANDING_URL_ENV, LandingConfigError
from crm_sync.sync.receive import Receiver
from crm_sync_tests.sync.conftest import all_history, fast_settings, make_client
from crm_sync_tests.sync.receive_helpers import mismatches


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3-compatible server, started for this module and stopped after it."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                requests.get(endpoint, timeout=10)  # moto answers its first request slowly under load
                break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, f"moto did not start: {log.read_text()}"
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """The environment an object store's driver reads (as on a pod), and a boto3 client to look with."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "crm-sync-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "crm-sync-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("s3", endpoint_url=s3_endpoint)


def _keys(s3, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_receive_lands_in_s3_and_another_machine_replays_it(sandbox, platform_url, tmp_path, s3,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = f"crm-landing-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv(LANDING_URL_ENV, f"s3://{bucket}/prod/landing")
    settings = fast_settings()
    monkeypatch.setenv("CRM_SYNC_DATA", str(tmp_path / "machine-a"))
    window = all_history()

    with PlatformStore(platform_url, settings) as store:
        assert store.landing.url == f"s3://{bucket}/prod/landing"
        client = make_client(sandbox)
        receiver = Receiver(client, store)
        contact = settings.section("Contact")
        applied = receiver.receive_window(contact, window, modstamp_field="LastModifiedDate")
        assert applied.pages > 1 and not store.pages_to_replay(contact)
        assert len(_keys(s3, bucket, "prod/landing/Contact/")) == applied.pages

        case = settings.section("Case")
        original_apply = store.apply_page
        store.apply_page = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("database went away"))  # type: ignore
        try:
            with pytest.raises(RuntimeError, match="database went away"):
                receiver.receive_window(case, window, modstamp_field="LastModifiedDate")
        finally:
            store.apply_page = original_apply  # type: ignore[method-assign]
        pending = store.pages_to_replay(case)
        assert pending and store.count_records(case) == 0
        assert all(p.path.startswith(f"s3://{bucket}/prod/landing/Case/") for p in pending)
        assert {f"s3://{bucket}/{key}" for key in _keys(s3, bucket, "prod/landing/Case/")} == {p.path for p in pending}
    assert not (tmp_path / "machine-a").exists()  # nothing landed on the local disk

    # Another machine: its own (empty) local data dir, the same database and bucket, a new client.
    monkeypatch.setenv("CRM_SYNC_DATA", str(tmp_path / "machine-b"))
    with PlatformStore(platform_url, settings) as elsewhere:
        other_client = make_client(sandbox)
        calls = other_client.api_calls.total
        counts = Receiver(other_client, elsewhere).replay_landed(case)
        assert other_client.api_calls.total == calls  # replayed from S3, no API call
        assert counts.imported == elsewhere.count_records(case) > 0
        assert not elsewhere.pages_to_replay(case)
        assert mismatches(sandbox, elsewhere, case) == []
        assert mismatches(sandbox, elsewhere, contact) == []


def test_a_missing_bucket_fails_the_receive_before_any_apply_and_loses_nothing(sandbox, platform_url, tmp_path,
                                                                                s3) -> None:
    bucket = f"crm-landing-{uuid.uuid4().hex[:8]}"  # not created yet
    settings = fast_settings()
    section = settings.section("Account")
    with PlatformStore(platform_url, settings, landing_root=f"s3://{bucket}/landing") as store:
        receiver = Receiver(make_client(sandbox), store)
        with pytest.raises(FileNotFoundError):
            receiver.receive_window(section, all_history(), modstamp_field="LastModifiedDate")
        assert store.count_records(section) == 0 and store.get_cursor(section, "LastModifiedDate") is None
        assert not store.pages_to_replay(section)

        s3.create_bucket(Bucket=bucket)  # the operator fixes it; the next run does the whole window
        result = receiver.receive_window(section, all_history(), modstamp_field="LastModifiedDate")
        assert result.counts.imported == store.count_records(section) > 0
        assert mismatches(sandbox, store, section) == []


def test_an_unknown_landing_url_is_a_clear_error_before_the_database_is_touched(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LANDING_URL_ENV, "nosuch://bucket/landing")
    with pytest.raises(LandingConfigError, match=rf"\${LANDING_URL_ENV} 'nosuch://bucket/landing'"):
        PlatformStore(sqlite_url, fast_settings())
    assert not (tmp_path / "platform.db").exists() or (tmp_path / "platform.db").stat().st_size == 0
