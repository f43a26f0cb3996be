"""Pause and resume: stop every crm_sync schedule and sensor, in every code location the instance knows them
by, and start them again.

Nothing else changes (sections, cursors, outbox, run history). Schedule and sensor state is keyed by
(location, repository, name), so the location name decides which toggles a pause flips: the UI's and the
daemon's are those of the location they serve. Which locations are live is read from the instance: every
location holding a running crm_sync schedule or sensor (as the UI or the daemon stored it); an instance
that has stored none yet gets DEFAULT_LOCATION_NAME, the name `make ui`, workspace.yaml, `dg dev` and
`dagster dev -m crm_sync.definitions` all give. Pausing records, in the instance's key-value store,
which schedules and sensors were running in which location, so resuming starts exactly those: a sensor
that was off before the pause stays off. Without such a record (never paused) resuming starts those
that are on by default.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dagster import DagsterInstance, DefaultScheduleStatus, DefaultSensorStatus
from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.external import RemoteRepository, RemoteSchedule, RemoteSensor
from dagster._core.scheduler.instigation import InstigatorStatus
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

if TYPE_CHECKING:
    from dagster._core.remote_representation.code_location import CodeLocation

DEFINITIONS_MODULE = "crm_sync.definitions"
DEFAULT_LOCATION_NAME = DEFINITIONS_MODULE  # workspace.yaml, [tool.dagster], [tool.dg.project], `crm-sync ui`
PAUSE_KEY = "crm_sync/paused"
LIVE_STATUSES = {InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE}

Instigator = RemoteSchedule | RemoteSensor


@dataclass(frozen=True)
class PauseRecord:
    """When the integration was paused and, per code location, which schedules/sensors were running then."""

    paused_at: str
    running: dict[str, list[str]]


@contextmanager
def crm_sync_location(instance: DagsterInstance, *, module: str = DEFINITIONS_MODULE,
                      location_name: str = DEFAULT_LOCATION_NAME, working_directory: str | None = None,
                      ) -> Iterator[CodeLocation]:
    """The crm_sync code location under `location_name`, loaded in this process."""
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


def live_location_names(instance: DagsterInstance, instigator_names: set[str]) -> list[str]:
    """The locations where the instance holds a running (or running-by-default) crm_sync schedule or sensor."""
    found = set()
    for state in instance.all_instigator_state(instigator_statuses=LIVE_STATUSES):
        repository = state.origin.repository_origin
        if repository.repository_name == SINGLETON_REPOSITORY_NAME and state.instigator_name in instigator_names:
            found.add(repository.code_location_origin.location_name)
    return sorted(found)


@contextmanager
def crm_sync_locations(instance: DagsterInstance, names: Sequence[str] | None = None, *,
                       module: str = DEFINITIONS_MODULE, working_directory: str | None = None,
                       ) -> Iterator[list[CodeLocation]]:
    """The crm_sync code location under each given name, or else under each live name (see the module doc)."""
    with ExitStack() as stack:
        def load(name: str) -> CodeLocation:
            return stack.enter_context(crm_sync_location(instance, module=module, location_name=name,
                                                         working_directory=working_directory))

        if names:
            yield [load(name) for name in dict.fromkeys(names)]
            return
        default = load(DEFAULT_LOCATION_NAME)
        live = live_location_names(instance, {i.name for i in instigators(default)})
        if not live:
            yield [default]
            return
        yield [default if name == DEFAULT_LOCATION_NAME else load(name) for name in live]


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
    running = data["running"]
    if isinstance(running, list):  # a record written before pauses were kept per location
        running = {"*": running}
    return PauseRecord(data["paused_at"], {name: list(names) for name, names in running.items()})


def is_paused(instance: DagsterInstance) -> bool:
    return pause_record(instance) is not None


def recorded_location_names(instance: DagsterInstance) -> list[str] | None:
    """The locations the current pause stopped things in (None when not paused or not known)."""
    record = pause_record(instance)
    if record is None or "*" in record.running:
        return None
    return list(record.running)


def pause(instance: DagsterInstance, locations: Sequence[CodeLocation]) -> dict[str, list[str]]:
    """Stop every running schedule and sensor of the locations; their names per location (empty if paused)."""
    if is_paused(instance):
        return {}
    running = {location.name: [i for i in instigators(location) if is_running(instance, i)]
               for location in locations}
    record = {"paused_at": datetime.now(UTC).isoformat(),
              "running": {name: [i.name for i in found] for name, found in running.items()}}
    instance.run_storage.set_cursor_values({PAUSE_KEY: json.dumps(record)})
    for found in running.values():
        for instigator in found:
            if isinstance(instigator, RemoteSchedule):
                instance.stop_schedule(instigator.get_remote_origin_id(), instigator.selector_id, instigator)
            else:
                instance.stop_sensor(instigator.get_remote_origin_id(), instigator.selector_id, instigator)
    return record["running"]


def _on_by_default(instigator: Instigator) -> bool:
    if isinstance(instigator, RemoteSchedule):
        return instigator.default_status == DefaultScheduleStatus.RUNNING
    return instigator.default_status == DefaultSensorStatus.RUNNING


def resume(instance: DagsterInstance, locations: Sequence[CodeLocation]) -> dict[str, list[str]]:
    """Start what was running when paused (or, never paused, what is on by default); their names per location."""
    record = pause_record(instance)
    started: dict[str, list[str]] = {}
    for location in locations:
        found = instigators(location)
        if record is None:
            wanted = {i.name for i in found if _on_by_default(i)}
        else:
            wanted = set(record.running.get(location.name, record.running.get("*", [])))
        started[location.name] = []
        for instigator in found:
            if instigator.name not in wanted or is_running(instance, instigator):
                continue
            if isinstance(instigator, RemoteSchedule):
                instance.start_schedule(instigator)
            else:
                instance.start_sensor(instigator)
            started[location.name].append(instigator.name)
    instance.run_storage.set_cursor_values({PAUSE_KEY: ""})
    return started
