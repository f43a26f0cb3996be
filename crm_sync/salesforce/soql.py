"""SOQL building with escaping: literals, windows, Id lists and SELECT statements.

Values never enter SOQL unescaped: strings go through `quote`, datetimes through `datetime_literal`,
and names (objects, fields, ORDER BY items) must look like Salesforce identifiers or paths.

Windows are half-open: `window_condition(f, start, end)` is `f >= start AND f < end`, so adjacent
windows (days, cursor steps) never both include a record whose modstamp falls on the boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_ESCAPE_RE = re.compile("|".join(re.escape(char) for char in _ESCAPES))
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PATH_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_ORDER_ITEM_RE = re.compile(
    r"^[A-Za-z][A-Za-z0-9_.]*(\s+(ASC|DESC))?(\s+NULLS\s+(FIRST|LAST))?$", re.IGNORECASE
)
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
_SELECT_RE = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>[A-Za-z][A-Za-z0-9_]*)\b",
                        re.IGNORECASE | re.DOTALL)


def quote(value: str) -> str:
    """A SOQL string literal for `value`: single-quoted, with \\ ' \" newline CR tab BS FF escaped."""
    if not isinstance(value, str):
        raise TypeError(f"quote() takes a str, got {type(value).__name__}")
    return "'" + _ESCAPE_RE.sub(lambda match: _ESCAPES[match.group(0)], value) + "'"


def datetime_literal(value: datetime) -> str:
    """A SOQL datetime literal in UTC with milliseconds: 2024-01-31T10:00:00.000Z (aware datetimes only)."""
    if value.tzinfo is None:
        raise ValueError("datetime_literal needs a timezone-aware datetime")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def literal(value: object) -> str:
    """A SOQL literal for None, bool, int, float, str, date or aware datetime."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return datetime_literal(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"no SOQL literal for {type(value).__name__}")


def name(value: str) -> str:
    """`value` checked to be an object or field name (letters, digits, underscores)."""
    if not _NAME_RE.match(value or ""):
        raise ValueError(f"not a Salesforce name: {value!r}")
    return value


def path(value: str) -> str:
    """`value` checked to be a field path such as `Owner.Email`."""
    if not _PATH_RE.match(value or ""):
        raise ValueError(f"not a Salesforce field path: {value!r}")
    return value


def window_condition(modstamp_field: str, start: datetime, end: datetime) -> str:
    """`field >= start AND field < end`: the half-open window [start, end) on a datetime field."""
    if end < start:
        raise ValueError(f"window ends before it starts: {start.isoformat()} > {end.isoformat()}")
    field = path(modstamp_field)
    return f"{field} >= {datetime_literal(start)} AND {field} < {datetime_literal(end)}"


def is_id(value: object) -> bool:
    """True for a string shaped like a 15- or 18-character Salesforce Id."""
    return isinstance(value, str) and bool(_ID_RE.match(value))


def id_in(ids: Iterable[str], field: str = "Id") -> str:
    """`field IN ('id1','id2',...)`; at least one id is needed (SOQL has no empty IN list)."""
    values = list(dict.fromkeys(ids))
    if not values:
        raise ValueError("id_in needs at least one id")
    for value in values:
        if not _ID_RE.match(value):
            raise ValueError(f"not a Salesforce Id: {value!r}")
    return f"{path(field)} IN ({','.join(quote(v) for v in values)})"


def select(
    obj: str,
    fields: Sequence[str],
    where: Iterable[str] | str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
) -> str:
    """`SELECT fields FROM obj [WHERE (c1) AND (c2)] [ORDER BY ...] [LIMIT n]`.

    `where` holds conditions already built with this module's helpers; each is parenthesized.
    """
    if not fields:
        raise ValueError("select needs at least one field")
    soql = f"SELECT {', '.join(path(f) for f in fields)} FROM {name(obj)}"
    conditions = [where] if isinstance(where, str) else list(where or [])
    conditions = [c.strip() for c in conditions if c and c.strip()]
    if conditions:
        soql += " WHERE " + " AND ".join(f"({c})" for c in conditions)
    if order_by:
        items = [order_by] if isinstance(order_by, str) else list(order_by)
        items = [i.strip() for part in items for i in part.split(",")]
        for item in items:
            if not _ORDER_ITEM_RE.match(item):
                raise ValueError(f"not an ORDER BY item: {item!r}")
        soql += " ORDER BY " + ", ".join(items)
    if limit is not None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        soql += f" LIMIT {int(limit)}"
    return soql


def count(obj: str, where: str | None = None) -> str:
    """`SELECT COUNT() FROM obj [WHERE ...]`."""
    soql = f"SELECT COUNT() FROM {name(obj)}"
    if where and where.strip():
        soql += f" WHERE {where.strip()}"
    return soql


def parse_select(soql: str) -> tuple[str, list[str]]:
    """The object and the select-list paths of a plain SELECT (no subqueries, functions or TYPEOF)."""
    match = _SELECT_RE.match(soql)
    if not match:
        raise ValueError(f"not a SELECT ... FROM ... statement: {soql[:80]!r}")
    items = [item.strip() for item in match.group("fields").split(",")]
    for item in items:
        if not _PATH_RE.match(item):
            raise ValueError(f"only plain field paths are supported in the select list, got {item!r}")
    return match.group("object"), items
