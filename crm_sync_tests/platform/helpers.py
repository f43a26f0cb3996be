"""Small builders shared by the platform tests: Salesforce-like Ids, times and received rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_sync.sandbox.ids import to_18

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def account_id(number: int) -> str:
    return to_18(f"0018a{number:010d}")


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def account_row(number: int, minutes: float = 0, **values: Any) -> dict[str, Any]:
    """One received Account row keyed by platform column, modstamps at T0 + minutes."""
    row: dict[str, Any] = {
        "salesforce_id": account_id(number),
        "name": f"Account {number}",
        "industry": "Retail",
        "employees": 10 * number,
        "annual_revenue": 1000.5 * number,
        "sf_last_modified": at(minutes),
        "sf_system_modstamp": at(minutes),
    }
    row.update(values)
    return row
