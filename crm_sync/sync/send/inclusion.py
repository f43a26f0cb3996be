"""The inclusion filter of the send side: a section's `filter` (a SOQL condition) evaluated on a platform row.

A record outside the filter is not sent (it would not be received either). Supported: comparisons
(=, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN) of a mapped Salesforce field with a literal (string, number,
true/false, null), combined with AND, OR, NOT and parentheses; comparisons are case-insensitive for text
as in SOQL. A condition on a field the section does not map cannot be judged here and counts as met.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from crm_sync.settings import Section

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)"
                    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")
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
            values = [self.take()[1]]
            while self.peek() == ("op", ","):
                self.take()
                values.append(self.take()[1])
            self.take(")")
            return lambda get: _known(get(name), lambda v: any(_equal(v, x) for x in values) != negate)
        literal = self.take()[1]
        return lambda get: _known(get(name), lambda v: _compare(v, op, literal))


def _known(found: tuple[bool, Any], test: Callable[[Any], bool]) -> bool:
    mapped, value = found
    return True if not mapped else test(value)


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    return value


def _equal(value: Any, literal: Any) -> bool:
    return _norm(value) == _norm(literal)


def _compare(value: Any, op: str, literal: Any) -> bool:
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
