"""The alerts' grouping and delivery on a real Dagster instance: failed runs grouped by cause, at most one alert
per cause per hour, and a webhook that is down delays an alert without losing or repeating it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from crm_sync.salesforce.errors import SalesforceAuthError
from crm_sync.sync.health.alerts import AlertCursor, deliver_alerts
from crm_sync_tests.sync.health.helpers import Webhook, webhook_receiver


@dg.op
def log_in() -> None:
    raise SalesforceAuthError("Salesforce login was refused: invalid_grant", error_code="invalid_grant")


@dg.op
def divide() -> None:
    raise ZeroDivisionError("division by zero")


@dg.job
def receive() -> None:
    log_in()


@dg.job
def push() -> None:
    divide()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as temporary:
        yield temporary


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook_receiver() as receiver:
        yield receiver


def _fail(job: dg.JobDefinition, instance: dg.DagsterInstance) -> str:
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result.run_id


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def test_one_alert_per_cause_per_hour(instance: dg.DagsterInstance, hook: Webhook) -> None:
    first, second = _fail(receive, instance), _fail(receive, instance)
    other = _fail(push, instance)  # another cause
    now = datetime.now(UTC)
    delivered, cursor = deliver_alerts(instance, [], AlertCursor(), webhook_url=hook.url, now=now)
    assert sorted(a.cause for a in delivered) == ["credentials", "run push failed (ZeroDivisionError)"]
    credentials = next(a for a in delivered if a.cause == "credentials")
    assert credentials.runs == (first, second) and credentials.link.endswith(f"/runs/{second}")
    assert next(a for a in delivered if a is not credentials).runs == (other,)
    assert len(hook.take()) == 2

    third = _fail(receive, instance)  # the same cause 10 minutes later: held
    delivered, cursor = deliver_alerts(instance, [], AlertCursor.decode(cursor.encode()), webhook_url=hook.url,
                                       now=now + timedelta(minutes=10))
    assert delivered == [] and hook.take() == []
    delivered, cursor = deliver_alerts(instance, [], cursor, webhook_url=hook.url, now=now + timedelta(minutes=30))
    assert delivered == []  # nothing new, still within the hour

    [later] = deliver_alerts(instance, [], cursor, webhook_url=hook.url, now=now + timedelta(minutes=61))[0]
    assert later.title.startswith("crm_sync still failing: credentials") and later.runs == (third,)
    assert "1 failure(s) since the last alert" in later.detail
    assert len(hook.take()) == 1


def test_a_webhook_that_is_down_delays_the_alert_and_loses_nothing(instance: dg.DagsterInstance,
                                                                 hook: Webhook) -> None:
    run_id = _fail(receive, instance)
    logged: list[str] = []
    delivered, cursor = deliver_alerts(instance, [], AlertCursor(), webhook_url=_closed_port_url(),
                                       log_fn=logged.append)
    assert delivered == [] and "could not post" in logged[0]
    assert cursor.held["credentials"].runs == [run_id]  # kept in the cursor, the event log read past it

    cursor = AlertCursor.decode(cursor.encode())
    [alert], cursor = deliver_alerts(instance, [], cursor, webhook_url=hook.url)
    assert alert.runs == (run_id,) and len(hook.take()) == 1
    assert deliver_alerts(instance, [], cursor, webhook_url=hook.url, now=datetime.now(UTC) + timedelta(hours=2))[0] == []
    assert hook.take() == []
