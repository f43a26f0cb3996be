"""A section's `filter` (a SOQL condition): parsed once at load (`parse_filter`), evaluated on a platform row
by the send side (`included`): one parser for both, so a filter that loads can always be evaluated.

A record outside the filter is not sent (it would not be received either). Supported: comparisons
(=, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN) of a Salesforce field with a literal (string, number,
true/false, null, a date `2024-01-31`, a datetime `2024-01-31T10:00:00Z`, or a date literal such as TODAY,
YESTERDAY, LAST_N_DAYS:30, NEXT_N_DAYS:7, THIS_MONTH, LAST_YEAR), combined with AND, OR, NOT and
parentheses; text compares case-insensitively as in SOQL; a date literal is a range of days evaluated when
the filter is (`=` means within it, `<` before it, `>` after it). A condition on a field the section does
not map cannot be judged here and counts as met. Anything else is a load error naming the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_sync.settings.schema import Section

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')"
                    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))"
                    r"|(?P<date>\d{4}-\d{2}-\d{2})|(?P<num>-?\d+(?:\.\d+)?)"
                    r"|(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)"
                    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?))")
Predicate = Callable[[Callable[[str], tuple[bool, Any]]], bool]
UNKNOWN = object()


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"cannot read the filter at {text[position:]!r}")
        position = match.end()
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "str":
            tokens.append(("lit", re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif kind == "date":
            tokens.append(("lit", date.fromisoformat(raw)))
        elif kind == "datetime":
            tokens.append(("lit", datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)))
        elif kind == "num":
            tokens.append(("lit", float(raw)))
        elif kind == "op":
            tokens.append(("op", raw))
        elif raw.upper() in ("AND", "OR", "NOT", "IN", "LIKE"):
            tokens.append(("op", raw.upper()))
        elif raw.lower() in ("true", "false"):
            tokens.append(("lit", raw.lower() == "true"))
        elif raw.lower() == "null":
            tokens.append(("lit", None))
        else:
            tokens.append(("field", raw))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, Any]:
        token = self.peek()
        if token is None or (expected is not None and token != ("op", expected)):
            raise ValueError(f"filter: expected {expected or 'more'} at token {self.index}")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise ValueError(f"filter: unexpected {self.peek()[1]!r}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == ("op", "OR"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda get: any(p(get) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.peek() == ("op", "AND"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda get: all(p(get) for p in parts))

    def negation(self) -> Predicate:
        if self.peek() == ("op", "NOT"):
            self.take()
            inner = self.negation()
            return lambda get: not inner(get)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, name = self.take()
        if kind != "field":
            raise ValueError(f"filter: expected a field name, got {name!r}")
        _, op = self.take()
        negate = False
        if op == "NOT":
            negate, op = True, self.take("IN")[1]
        if op == "IN":
            self.take("(")
            values = [self._literal()]
            while self.peek() == ("op", ","):
                self.take()
                values.append(self._literal())
            self.take(")")
            return lambda get: _known(get(name), lambda v: any(_equal(v, x) for x in values) != negate)
        literal = self._literal()
        return lambda get: _known(get(name), lambda v: _compare(v, op, literal))

    def _literal(self) -> Any:
        kind, value = self.take()
        if kind == "lit":
            return value
        if kind == "field":
            return relative_date(value)
        raise ValueError(f"filter: expected a value, got {value!r}")


def _known(found: tuple[bool, Any], test: Callable[[Any], bool]) -> bool:
    mapped, value = found
    return True if not mapped else test(value)


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    return value


def _equal(value: Any, literal: Any) -> bool:
    if isinstance(literal, RelativeDate):
        return _compare(value, "=", literal)
    return _norm(value) == _norm(literal)


def _compare(value: Any, op: str, literal: Any) -> bool:
    if isinstance(literal, RelativeDate):
        return _compare_range(value, op, *literal.days(datetime.now(UTC).date()))
    if op == "=":
        return _equal(value, literal)
    if op in ("!=", "<>"):
        return not _equal(value, literal)
    if value is None or literal is None:
        return False
    if op == "LIKE":
        pattern = re.escape(str(literal).lower()).replace("%", ".*").replace("_", ".")
        return re.fullmatch(pattern, str(value).lower()) is not None
    left, right = _norm(value), _norm(literal)
    try:
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    except TypeError:
        return False


def _compare_range(value: Any, op: str, first: date, last: date) -> bool:
    """A date or datetime against the days first..last (inclusive), as SOQL compares date literals."""
    if value is None:
        return op in ("!=", "<>")
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    if not isinstance(day, date):
        return False
    within = first <= day <= last
    return {"=": within, "!=": not within, "<>": not within, "<": day < first, "<=": day <= last,
            ">": day > last, ">=": day >= first}.get(op, False)


@dataclass(frozen=True)
class RelativeDate:
    """A SOQL date literal (TODAY, LAST_N_DAYS:30, ...): a range of days that depends on the day it is read."""

    name: str
    n: int = 0

    def days(self, today: date) -> tuple[date, date]:
        n, name = self.n, self.name
        month_start = today.replace(day=1)
        if name in _FIXED_DAYS:
            first, last = _FIXED_DAYS[name]
            return today + timedelta(days=first), today + timedelta(days=last)
        if name == "LAST_N_DAYS":
            return today - timedelta(days=n), today
        if name == "NEXT_N_DAYS":
            return today, today + timedelta(days=n)
        if name == "N_DAYS_AGO":
            return today - timedelta(days=n), today - timedelta(days=n)
        if name == "THIS_MONTH":
            return month_start, _month_end(month_start)
        if name == "LAST_MONTH":
            previous = (month_start - timedelta(days=1)).replace(day=1)
            return previous, month_start - timedelta(days=1)
        if name == "NEXT_MONTH":
            following = _month_end(month_start) + timedelta(days=1)
            return following, _month_end(following)
        year = {"THIS_YEAR": 0, "LAST_YEAR": -1, "NEXT_YEAR": 1, "LAST_N_YEARS": None}[name]
        if year is None:
            return date(today.year - n, 1, 1), date(today.year - 1, 12, 31)
        return date(today.year + year, 1, 1), date(today.year + year, 12, 31)


_FIXED_DAYS = {"TODAY": (0, 0), "YESTERDAY": (-1, -1), "TOMORROW": (1, 1), "LAST_90_DAYS": (-90, 0),
               "NEXT_90_DAYS": (0, 90)}
_WITH_N = ("LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_YEARS")
_WITHOUT_N = (*_FIXED_DAYS, "THIS_MONTH", "LAST_MONTH", "NEXT_MONTH", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR")


def _month_end(month_start: date) -> date:
    following = (month_start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def relative_date(word: str) -> RelativeDate:
    """TODAY, LAST_N_DAYS:30, ... as a RelativeDate; anything else is an error naming it."""
    name, _, n = word.upper().partition(":")
    if name in _WITH_N and n.isdigit():
        return RelativeDate(name, int(n))
    if name in _WITHOUT_N and not n:
        return RelativeDate(name)
    supported = ", ".join([*_WITHOUT_N, *(f"{w}:n" for w in _WITH_N)])
    raise ValueError(f"filter: {word!r} is not a value this filter reader knows (date literals: {supported})")


def parse_filter(text: str) -> Predicate:
    """The filter as a predicate; ValueError naming the first thing it cannot read."""
    return _compiled(text)


@lru_cache(maxsize=64)
def _compiled(text: str) -> Predicate:
    return _Parser(text).parse()


def included(section: Section, row: dict[str, Any]) -> bool:
    """True when the row meets the section's filter (always, without a filter)."""
    if not section.filter:
        return True
    by_field = {f.salesforce.lower(): f.column for f in section.fields}

    def get(name: str) -> tuple[bool, Any]:
        column = by_field.get(name.lower())
        return (False, None) if column is None else (True, row.get(column))

    return _compiled(section.filter)(get)
