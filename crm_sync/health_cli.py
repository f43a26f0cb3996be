"""`crm-sync status | pause | resume | log`: the integration's health from the command line.

The Dagster instance is the one of $DAGSTER_HOME (as for `dagster dev`); the platform database and the
sections come from CRM_SYNC_PLATFORM_URL / CRM_SYNC_SECTIONS; Salesforce from the SALESFORCE_* variables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import click
from dagster import DagsterInstance

from crm_sync.platform import PlatformStore
from crm_sync.platform.sync_log import EVENTS
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.sync.health import pause as pausing
from crm_sync.sync.health.status import credentials_configured, gather_status

RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `2h`, `7d` (ago), or an ISO date/datetime (UTC when no offset is given)."""
    now = now or datetime.now(UTC)
    match = RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither an ISO date/datetime nor a span like 30m, 2h, 7d") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@contextmanager
def _instance() -> Iterator[DagsterInstance]:
    if not os.environ.get("DAGSTER_HOME"):
        raise click.ClickException("DAGSTER_HOME is not set: it names the Dagster instance whose schedules "
                                   "and sensors are paused or resumed (make sets it to ./.dagster_home)")
    with DagsterInstance.get() as instance:
        yield instance


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--offline", is_flag=True, help="Do not ask Salesforce for the API use (no API call).")
def status_command(as_json: bool, offline: bool) -> None:
    """The integration's status (Active, Error, Incomplete, Inactive), each section's last sync and counts,
    failed checks, outbox depth, dead letters and API use."""
    paused = False
    if os.environ.get("DAGSTER_HOME"):
        with _instance() as instance:
            paused = pausing.is_paused(instance)
    client = None if offline or not credentials_configured()[0] else SalesforceClient.from_env()
    with PlatformStore() as store:
        report = gather_status(store, paused=paused, client=client)
    click.echo(json.dumps(report.to_dict(), indent=2, default=str) if as_json else report.render())


def _stopped_or_started(by_location: dict[str, list[str]], nothing: str) -> str:
    return "; ".join(f"{', '.join(names) or nothing} (code location {location})"
                     for location, names in by_location.items()) or nothing


LOCATION_OPTION = click.option(
    "--location", "locations", multiple=True, metavar="NAME",
    help="Code location name(s) to act on; by default every location where the Dagster instance holds "
         f"running crm_sync schedules or sensors (or {pausing.DEFAULT_LOCATION_NAME}, as `make ui` names it).")


@click.command("pause")
@LOCATION_OPTION
def pause_command(locations: tuple[str, ...]) -> None:
    """Stop every crm_sync schedule and sensor (settings, cursors and the outbox are kept)."""
    with _instance() as instance:
        if pausing.is_paused(instance):
            click.echo("Already paused.")
            return
        with pausing.crm_sync_locations(instance, locations) as loaded:
            stopped = pausing.pause(instance, loaded)
    click.echo(f"Paused: stopped {_stopped_or_started(stopped, 'nothing (nothing was running)')}.")


@click.command("resume")
@LOCATION_OPTION
def resume_command(locations: tuple[str, ...]) -> None:
    """Start again the schedules and sensors that were running when crm_sync was paused."""
    with _instance() as instance:
        names = locations or pausing.recorded_location_names(instance)
        with pausing.crm_sync_locations(instance, names) as loaded:
            started = pausing.resume(instance, loaded)
    click.echo(f"Resumed: started {_stopped_or_started(started, 'nothing (all were running already)')}.")


@click.command("log")
@click.option("--section", help="Salesforce object or platform model, e.g. Account or company.")
@click.option("--since", help="Only rows at or after this: 30m, 2h, 7d, or an ISO date/datetime.")
@click.option("--event", type=click.Choice(sorted(EVENTS)), help="Only this event.")
@click.option("--run-id", help="Only this Dagster run.")
@click.option("--limit", type=int, default=None, help="Only the newest N rows (printed oldest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def log_command(section: str | None, since: str | None, event: str | None, run_id: str | None,
                limit: int | None, as_json: bool) -> None:
    """The sync log: sync_started/completed/failed, record counts, sends, failures and health checks."""
    with PlatformStore() as store:
        try:
            entries = store.read_log(section, parse_since(since) if since else None, event=event, run_id=run_id,
                                     limit=limit, newest=True)
        except KeyError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="--section") from None
    for entry in entries:
        if as_json:
            click.echo(json.dumps({"at": entry.at.isoformat(), "run_id": entry.run_id, "section": entry.section,
                                   "event": entry.event, "count": entry.count, "details": entry.details},
                                  default=str))
            continue
        details = entry.details
        if isinstance(details, dict) and entry.event == "health_check":
            details = f"{details.get('check')}: {'passed' if details.get('passed') else 'FAILED'} " \
                      f"{details.get('description', '')}"
        text = "" if details is None else (details if isinstance(details, str) else json.dumps(details, default=str))
        click.echo(f"{entry.at.isoformat(timespec='seconds')}  {(entry.run_id or '-')[:8]:<8}  "
                   f"{entry.section or '-':<12}  {entry.event:<16}  {'' if entry.count is None else entry.count:>6}  "
                   f"{text[:160]}")


COMMANDS = (status_command, pause_command, resume_command, log_command)
