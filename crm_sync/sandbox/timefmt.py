"""Salesforce's datetime and date formats, as the sandbox stores and answers them.

Datetimes are stored as text in Salesforce's own output form, always UTC and fixed width
(`2024-05-01T12:30:00.000+0000`), so that text order equals time order in SQLite and no
conversion is needed on the way out. Dates are stored as `YYYY-MM-DD`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})$"
)


def format_datetime(value: datetime) -> str:
    """A timezone-aware datetime in Salesforce's stored/output form (UTC, milliseconds, +0000)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    value = value.astimezone(UTC)
    if value.year < 1000:  # strftime's own (unpadded) year, as before
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    return (f"{value.year}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}.{value.microsecond // 1000:03d}+0000")


def parse_datetime(text: str) -> datetime:
    """Parse a Salesforce datetime (any fraction length, `Z` or an offset with or without colon)."""
    match = _DATETIME_RE.match(text.strip())
    if not match:
        raise ValueError(f"not a datetime: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        parsed -= sign * offset
    return parsed


def normalize_datetime(text: str) -> str:
    """Any accepted datetime text in the stored form."""
    return format_datetime(parse_datetime(text))


def format_date(value: date) -> str:
    return value.isoformat()


def parse_date(text: str) -> date:
    return date.fromisoformat(text.strip())


def now() -> datetime:
    return datetime.now(UTC)
