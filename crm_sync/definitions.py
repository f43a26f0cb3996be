"""The one Definitions object of crm_sync: the only place where assets, checks, jobs and resources meet."""

from __future__ import annotations

import dagster as dg

from crm_sync.defs.account_job import sync_account_job
from crm_sync.defs.full_fetch import build_full_fetch_job
from crm_sync.defs.health import build_health_definitions
from crm_sync.defs.partitions import receive_partitions
from crm_sync.defs.receive_assets import build_receive_assets
from crm_sync.defs.receive_triggers import build_change_sensor, build_receive_jobs, build_receive_schedules
from crm_sync.defs.resources import default_resources
from crm_sync.defs.send import build_send_definitions
from crm_sync.settings import Settings, load_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Everything crm_sync shows in Dagster, for the given (default: the configured) sync sections."""
    settings = settings or load_settings()
    partitions = receive_partitions(settings)
    receiving = settings.receiving_sections()
    jobs = build_receive_jobs(settings, partitions, receiving)
    receive_assets = build_receive_assets(settings, partitions)
    receive = dg.Definitions(
        assets=receive_assets,
        jobs=[*jobs, build_full_fetch_job(receive_assets), sync_account_job],
        schedules=build_receive_schedules(settings, jobs, receiving),
        sensors=[build_change_sensor(settings, jobs, receiving)],
        resources=default_resources(),
    )
    return dg.Definitions.merge(receive, build_send_definitions(settings), build_health_definitions(settings))


defs = build_definitions()
