"""Platform values as Salesforce expects them in a write, and Salesforce values back in platform types."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

from crm_sync.settings import FieldType, Section


def to_salesforce(value: Any, field_type: FieldType) -> Any:
    """A platform value as JSON for Salesforce (dates ISO, datetimes UTC ISO with Z, NaN as null, text
    without NUL characters)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if field_type is FieldType.INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_platform(value: Any, field_type: FieldType) -> Any:
    """A Salesforce JSON value in the platform column's type."""
    if value is None:
        return None
    if field_type is FieldType.DATE and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if field_type is FieldType.DATETIME and isinstance(value, str):
        return parse_datetime(value)
    if field_type is FieldType.INTEGER:
        return int(value)
    if field_type is FieldType.FLOAT:
        return float(value)
    if field_type is FieldType.BOOLEAN and isinstance(value, str):
        return value.lower() == "true"
    return value


def parse_datetime(text: str) -> datetime:
    """Salesforce's `2026-01-02T03:04:05.000+0000` (or ...Z) as an aware UTC datetime."""
    cleaned = text.replace("Z", "+00:00")
    if len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    return datetime.fromisoformat(cleaned).astimezone(UTC)


def same_value(platform_value: Any, salesforce_value: Any, field_type: FieldType) -> bool:
    """True when a platform value and a Salesforce value mean the same (numbers compared as numbers)."""
    left = to_salesforce(platform_value, field_type)
    right = salesforce_value
    if left is None or right is None:
        return left is None and right is None
    if field_type in (FieldType.FLOAT, FieldType.INTEGER):
        try:
            return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if field_type is FieldType.DATETIME:
        return parse_datetime(str(left)) == parse_datetime(str(right))
    return str(left) == str(right)


def payload(section: Section, row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The Salesforce fields of `columns` (send columns only) with the row's values."""
    fields: dict[str, Any] = {}
    for column in columns:
        mapping = section.field_for_column(column)
        fields[mapping.salesforce] = to_salesforce(row.get(column), mapping.type)
    return fields
