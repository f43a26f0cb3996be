"""Pause and resume: stop every schedule and sensor of the crm_sync code location, and start them again.

Nothing else changes (sections, cursors, outbox, run history). Pausing records, in the instance's
key-value store, which schedules and sensors were running, so resuming starts exactly those: a sensor
that was off before the pause stays off. Without such a record (never paused) resuming starts those
that are on by default. Schedule state is keyed by (location, repository, name), so a pause made here
is the one the daemon and the UI see, as long as the location name matches the workspace's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dagster import DagsterInstance, DefaultScheduleStatus, DefaultSensorStatus
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.external import RemoteRepository, RemoteSchedule, RemoteSensor
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

if TYPE_CHECKING:
    from dagster._core.remote_representation.code_location import CodeLocation

LOCATION_NAME = "crm_sync"  # [tool.dagster] code_location_name in pyproject.toml
DEFINITIONS_MODULE = "crm_sync.definitions"
PAUSE_KEY = "crm_sync/paused"

Instigator = RemoteSchedule | RemoteSensor


@dataclass(frozen=True)
class PauseRecord:
    """When the integration was paused and which schedules/sensors were running then."""

    paused_at: str
    running: list[str]


@contextmanager
def crm_sync_location(instance: DagsterInstance, *, module: str = DEFINITIONS_MODULE,
                      location_name: str = LOCATION_NAME, working_directory: str | None = None,
                      ) -> Iterator[CodeLocation]:
    """The crm_sync code location, loaded in this process."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=module,
                             working_directory=working_directory),
        location_name=location_name)
    location = origin.create_location(instance)
    try:
        yield location
    finally:
        location.cleanup()


def _repository(location: CodeLocation) -> RemoteRepository:
    repositories = list(location.get_repositories().values())
    if len(repositories) != 1:
        raise RuntimeError(f"the code location {location.name} should hold one repository, not {len(repositories)}")
    return repositories[0]


def instigators(location: CodeLocation) -> list[Instigator]:
    """Every schedule and sensor of the location, schedules first, by name."""
    repository = _repository(location)
    return [*sorted(repository.get_schedules(), key=lambda s: s.name),
            *sorted(repository.get_sensors(), key=lambda s: s.name)]


def is_running(instance: DagsterInstance, instigator: Instigator) -> bool:
    """Running per the instance's stored state, else per the default status declared in code."""
    stored = instance.get_instigator_state(instigator.get_remote_origin_id(), instigator.selector_id)
    return instigator.get_current_instigator_state(stored).is_running


def running_names(instance: DagsterInstance, location: CodeLocation) -> list[str]:
    return [i.name for i in instigators(location) if is_running(instance, i)]


def pause_record(instance: DagsterInstance) -> PauseRecord | None:
    """The record of the current pause, or None when not paused."""
    raw = instance.run_storage.get_cursor_values({PAUSE_KEY}).get(PAUSE_KEY)
    if not raw:
        return None
    data = json.loads(raw)
    return PauseRecord(data["paused_at"], list(data["running"]))


def is_paused(instance: DagsterInstance) -> bool:
    return pause_record(instance) is not None


def pause(instance: DagsterInstance, location: CodeLocation) -> list[str]:
    """Stop every running schedule and sensor of the location; return their names (empty if already paused)."""
    if is_paused(instance):
        return []
    running = [i for i in instigators(location) if is_running(instance, i)]
    record = {"paused_at": datetime.now(UTC).isoformat(), "running": [i.name for i in running]}
    instance.run_storage.set_cursor_values({PAUSE_KEY: json.dumps(record)})
    for instigator in running:
        if isinstance(instigator, RemoteSchedule):
            instance.stop_schedule(instigator.get_remote_origin_id(), instigator.selector_id, instigator)
        else:
            instance.stop_sensor(instigator.get_remote_origin_id(), instigator.selector_id, instigator)
    return record["running"]


def _on_by_default(instigator: Instigator) -> bool:
    if isinstance(instigator, RemoteSchedule):
        return instigator.default_status == DefaultScheduleStatus.RUNNING
    return instigator.default_status == DefaultSensorStatus.RUNNING


def resume(instance: DagsterInstance, location: CodeLocation) -> list[str]:
    """Start what was running when paused (or, never paused, what is on by default); return their names."""
    record = pause_record(instance)
    wanted = set(record.running) if record else {i.name for i in instigators(location) if _on_by_default(i)}
    started = []
    for instigator in instigators(location):
        if instigator.name not in wanted or is_running(instance, instigator):
            continue
        if isinstance(instigator, RemoteSchedule):
            instance.start_schedule(instigator)
        else:
            instance.start_sensor(instigator)
        started.append(instigator.name)
    instance.run_storage.set_cursor_values({PAUSE_KEY: ""})
    return started
