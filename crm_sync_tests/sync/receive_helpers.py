"""Comparing the platform with the sandbox field by field, for the receive tests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from crm_sync.platform import PlatformStore
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.sandbox.timefmt import parse_datetime
from crm_sync.settings import Section


def platform_rows(store: PlatformStore, section: Section) -> dict[str, dict[str, Any]]:
    """Every row of the section's model, keyed by Salesforce Id."""
    table = store.table(section)
    with store.engine.connect() as conn:
        return {row.salesforce_id: dict(row._mapping) for row in conn.execute(sa.select(table))}


def _path_value(record: dict, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if value is None:
            return None
        value = value.get(part)
    return value


def salesforce_rows(info: SandboxInfo, section: Section, *, include_deleted: bool = False) -> dict[str, dict]:
    """The section's records as the sandbox answers them over REST (simple-salesforce), keyed by Id."""
    paths = ["Id", "IsDeleted", *[f.salesforce for f in section.receive_fields()]]
    where = f" WHERE {section.filter}" if section.filter else ""
    soql = f"SELECT {', '.join(dict.fromkeys(paths))} FROM {section.object}{where}"
    answer = info.salesforce().query_all(soql, include_deleted=include_deleted)
    return {r["Id"]: {p: _path_value(r, p) for p in paths} for r in answer["records"]}


def normalize(value: Any) -> Any:
    """Salesforce JSON and platform values in one comparable form."""
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, str) and len(value) == 28 and value[10] == "T":
        return parse_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if value == "":
        return None
    return value


def mismatches(info: SandboxInfo, store: PlatformStore, section: Section) -> list[str]:
    """Every difference between the sandbox's live records and the platform's live rows, field by field."""
    remote = salesforce_rows(info, section)
    local = {k: v for k, v in platform_rows(store, section).items() if not v["deleted"]}
    problems = [f"{section.object} {i}: missing in the platform" for i in remote.keys() - local.keys()]
    problems += [f"{section.object} {i}: in the platform only" for i in local.keys() - remote.keys()]
    for record_id in remote.keys() & local.keys():
        for mapping in section.receive_fields():
            want = normalize(remote[record_id][mapping.salesforce])
            have = normalize(local[record_id][mapping.column])
            if want != have:
                problems.append(f"{section.object} {record_id} {mapping.salesforce}: sandbox {want!r} "
                                f"!= platform {have!r}")
    return problems
