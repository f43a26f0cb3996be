"""The parsed form of a SOQL query: plain frozen dataclasses, each node carrying its source position."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pos:
    """1-based line and column of a node's first character in the query text."""

    line: int
    column: int


@dataclass(frozen=True)
class FieldPath:
    """`Name` or `Account.Owner.Email`: relationship names, then a field name, as written."""

    parts: tuple[str, ...]
    pos: Pos

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Call:
    """A function call such as `COUNT()`, `COUNT(Id)`, `FIELDS(ALL)` or `CALENDAR_YEAR(CreatedDate)`."""

    name: str
    args: tuple[object, ...]
    pos: Pos


@dataclass(frozen=True)
class Value:
    """A literal on the right of a comparison, as written; `kind` says which lexical form it took.

    kinds: string, number, date, datetime, name (null/true/false/TODAY/...), name_n (LAST_N_DAYS:n), bind.
    """

    kind: str
    text: str
    pos: Pos
    n: int | None = None


@dataclass(frozen=True)
class Comparison:
    """`operand op value`; op is one of = != < <= > >= LIKE IN NOT IN (value is then a tuple)."""

    operand: FieldPath | Call
    op: str
    value: Value | tuple[Value, ...]
    pos: Pos


@dataclass(frozen=True)
class BoolOp:
    """AND / OR over two or more conditions."""

    op: str
    items: tuple[object, ...]


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class Unsupported:
    """A construct that parses but the sandbox refuses; `what` names it for the error message."""

    what: str
    pos: Pos


@dataclass(frozen=True)
class SelectCall:
    """A function call in the select list, with its optional alias."""

    call: Call
    alias: str | None


@dataclass(frozen=True)
class OrderItem:
    operand: FieldPath | Call
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    select: tuple[FieldPath | SelectCall | Unsupported, ...]
    sobject: str
    sobject_pos: Pos
    where: object | None
    order: tuple[OrderItem, ...]
    limit: int | None
    limit_pos: Pos | None
    offset: int | None
    offset_pos: Pos | None
    unsupported: tuple[Unsupported, ...]  # clauses: USING SCOPE, WITH, GROUP BY, FOR ...
