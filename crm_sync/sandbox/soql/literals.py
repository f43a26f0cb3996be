"""SOQL literal values: string escapes, LIKE patterns, numbers, dates, datetimes and date literals.

Every function raises ValueError for a malformed literal; the compiler turns that into the
positional Salesforce error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from crm_sync.sandbox.timefmt import format_datetime, parse_datetime

_SIMPLE_ESCAPES = {
    "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\b", "B": "\b",
    "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\",
}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


class LiteralError(ValueError):
    """A malformed literal; `message` is the text Salesforce puts after the position."""


def _escapes(raw: str, like: bool):
    """Yield (char, is_wildcard) for the body of a quoted SOQL string (quotes included in `raw`)."""
    body = raw[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            yield char, like and char in "%_"
            index += 1
            continue
        following = body[index + 1 : index + 2]
        if following in _SIMPLE_ESCAPES:
            yield _SIMPLE_ESCAPES[following], False
            index += 2
        elif following == "u" and _HEX4.fullmatch(body[index + 2 : index + 6]):
            yield chr(int(body[index + 2 : index + 6], 16)), False
            index += 6
        elif like and following in ("%", "_"):
            yield following, False
            index += 2
        else:
            sequence = body[index : index + 2]
            raise LiteralError(
                f"Invalid string literal '{body}'. Illegal character sequence '{sequence}' in string literal."
            )


def decode_string(raw: str) -> str:
    """The value of a quoted SOQL string literal (`'Bob\\'s'` -> `Bob's`)."""
    return "".join(char for char, _ in _escapes(raw, like=False))


def like_pattern(raw: str) -> str:
    """A quoted SOQL LIKE pattern as an SQLite LIKE pattern using `\\` as the ESCAPE character."""
    parts = []
    for char, wildcard in _escapes(raw, like=True):
        parts.append(char if wildcard else ("\\" + char if char in "%_\\" else char))
    return "".join(parts)


def parse_number(text: str) -> int | float:
    """An integer when written without a fraction, else a float."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)


def parse_date_literal(text: str) -> str:
    """A `YYYY-MM-DD` literal checked to be a real date, in stored form."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise LiteralError(f"invalid date: {text}") from None


def parse_datetime_literal(text: str) -> str:
    """A datetime literal (`Z` or an offset, any fraction length) in stored UTC form."""
    try:
        return format_datetime(parse_datetime(text))
    except ValueError:
        raise LiteralError(f"invalid dateTime: {text}") from None


# Date literals (TODAY, LAST_N_DAYS:n, ...): ranges of whole UTC days [start, end).
_UNITS = {"DAY": "DAY", "DAYS": "DAY", "WEEK": "WEEK", "WEEKS": "WEEK", "MONTH": "MONTH", "MONTHS": "MONTH",
          "QUARTER": "QUARTER", "QUARTERS": "QUARTER", "YEAR": "YEAR", "YEARS": "YEAR"}
_RELATIVE = re.compile(r"(THIS|LAST|NEXT)_(?:FISCAL_)?(WEEK|MONTH|QUARTER|YEAR)")
_LAST_NEXT_N = re.compile(r"(LAST|NEXT)_N_(?:FISCAL_)?(DAYS|WEEKS|MONTHS|QUARTERS|YEARS)")
_N_AGO = re.compile(r"N_(?:FISCAL_)?(DAYS|WEEKS|MONTHS|QUARTERS|YEARS)_AGO")


def _unit_start(day: date, unit: str) -> date:
    if unit == "DAY":
        return day
    if unit == "WEEK":  # weeks start on Sunday (en_US, the sandbox org's locale)
        return day - timedelta(days=(day.weekday() + 1) % 7)
    if unit == "MONTH":
        return day.replace(day=1)
    if unit == "QUARTER":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


def _shift(start: date, unit: str, count: int) -> date:
    if unit == "DAY":
        return start + timedelta(days=count)
    if unit == "WEEK":
        return start + timedelta(weeks=count)
    months = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit] * count
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def date_literal_range(name: str, n: int | None, today: date) -> tuple[date, date] | None:
    """The [start, end) days a date literal covers relative to `today`, or None for an unknown name.

    As Salesforce: LAST_N_DAYS:n includes today (n + 1 days), NEXT_N_DAYS:n starts tomorrow;
    LAST_N_<unit>:n covers the n whole units before the current one; fiscal periods are calendar
    periods (the sandbox org's fiscal year starts in January).
    """
    upper = name.upper()
    if n is None:
        fixed = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}
        if upper in fixed:
            start = today + timedelta(days=fixed[upper])
            return start, start + timedelta(days=1)
        if upper == "LAST_90_DAYS":
            return today - timedelta(days=90), today + timedelta(days=1)
        if upper == "NEXT_90_DAYS":
            return today + timedelta(days=1), today + timedelta(days=91)
        match = _RELATIVE.fullmatch(upper)
        if not match:
            return None
        unit = match.group(2)
        offset = {"THIS": 0, "LAST": -1, "NEXT": 1}[match.group(1)]
        start = _shift(_unit_start(today, unit), unit, offset)
        return start, _shift(start, unit, 1)
    match = _LAST_NEXT_N.fullmatch(upper)
    if match:
        unit = _UNITS[match.group(2)]
        current = _unit_start(today, unit)
        if match.group(1) == "LAST":
            end = _shift(current, unit, 1) if unit == "DAY" else current
            return _shift(current, unit, -n), end
        return _shift(current, unit, 1), _shift(current, unit, 1 + n)
    match = _N_AGO.fullmatch(upper)
    if match:
        unit = _UNITS[match.group(1)]
        start = _shift(_unit_start(today, unit), unit, -n)
        return start, _shift(start, unit, 1)
    return None


def day_start(day: date) -> str:
    """Midnight UTC of `day` in stored datetime form."""
    return format_datetime(datetime(day.year, day.month, day.day, tzinfo=UTC))
