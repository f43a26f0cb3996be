"""The one partitioning of every receive asset: a UTC day of the record's modstamp."""

from __future__ import annotations

from datetime import date

import dagster as dg

from crm_sync.settings import Settings


def receive_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from the configured start date, with today's partition open (end_offset=1)."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.defaults.partition_start_date.isoformat(), timezone="UTC", end_offset=1)


def partition_day(key: str) -> date:
    return date.fromisoformat(key)
