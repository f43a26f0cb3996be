"""Bulk API 2.0 result CSV, written fast: SQLite formats each row into one CSV line.

For a plain field query the compiled SQL's first columns are the selected fields in order (the SOQL
compiler puts hidden Ids after them). Wrapping it as `WITH r(c0, c1, ...) AS (<sql>)` names those
columns by position, and one `format()` call per row renders them quoted, with booleans as
true/false, ints as ints and doubles as Salesforce (Java) prints them (whole numbers in SQL, others
by `java_double` registered on the connection as a function) - the same text `CompiledQuery.csv_values` gives, at a fraction of
the cost. Queries whose columns cannot be typed this way (aggregates, very wide selects) use the
csv module over `csv_values` instead.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from array import array
from functools import lru_cache
from itertools import accumulate
from typing import Any, BinaryIO

from crm_sync.sandbox.catalog import Catalog, Field, SObject
from crm_sync.sandbox.soql.shaping import java_double

MAX_FORMAT_ARGUMENTS = 100  # SQLite allows 127 function arguments by default
FETCH_ROWS = 10_000
_SAFE_TEXT = {"id", "reference", "datetime", "date"}  # stored forms that never hold a double quote
_DOUBLE_TYPES = {"double", "currency", "percent"}


@lru_cache(maxsize=65536)
def _java_double_or_null(value: object) -> str | None:
    return None if value is None else java_double(float(value))  # type: ignore[arg-type]


def resolve_columns(sobject: SObject, columns: list[str], catalog: Catalog) -> list[Field] | None:
    """The field behind each output column ("Name", "Account.Owner.Email"), or None if one is not a field."""
    fields = []
    for column in columns:
        current: SObject | None = sobject
        parts = column.split(".")
        for name in parts[:-1]:
            reference = current.relationship(name) if current else None
            if reference is None or len(reference.reference_to) != 1:
                return None
            current = catalog.get(reference.reference_to[0])
        found = current.field(parts[-1]) if current else None
        if found is None:
            return None
        fields.append(found)
    return fields


def _double_expression(column: str) -> str:
    """SQL giving Java's Double.toString text of a REAL column, exactly, for whole numbers below 2**53.

    Such values are printed from their integer digits (`1200.0`, `4.267012E9`), with no decimal
    parsing that could round; every other value goes to the Python function (cached).
    """
    whole = f"CAST(abs(CAST({column} AS INTEGER)) AS TEXT)"
    rest = f"rtrim(substr({whole}, 2), '0')"
    sign = f"CASE WHEN {column} < 0 THEN '-' ELSE '' END"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL "
        f"WHEN {column} != 0 AND {column} = CAST({column} AS INTEGER) AND abs({column}) < 9007199254740992 THEN "
        f"(CASE WHEN abs({column}) < 10000000 THEN CAST(CAST({column} AS INTEGER) AS TEXT) || '.0' "
        f"ELSE {sign} || substr({whole}, 1, 1) || '.' || (CASE WHEN {rest} = '' THEN '0' ELSE {rest} END) "
        f"|| 'E' || (length({whole}) - 1) END) "
        f"ELSE sandbox_java_double({column}) END"
    )


def _argument(index: int, field: Field) -> str:
    column = f"c{index}"
    if field.type == "boolean":
        return f"CASE {column} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"
    if field.type == "int":
        return f"CAST({column} AS INTEGER)"
    if field.type in _DOUBLE_TYPES:
        return _double_expression(column)
    if field.type in _SAFE_TEXT:
        return column
    return f"replace({column}, '\"', '\"\"')"


def line_query(compiled: Any, catalog: Catalog, connection: sqlite3.Connection, delimiter: str,
               terminator: str) -> tuple[str, list] | None:
    """(SQL giving one CSV line per row, its parameters), or None when this query needs the slow path."""
    if not compiled.columns or len(compiled.columns) > MAX_FORMAT_ARGUMENTS:
        return None
    fields = resolve_columns(compiled.sobject, list(compiled.columns), catalog)
    if fields is None:
        return None
    width = len(connection.execute(f"SELECT * FROM ({compiled.sql}) LIMIT 0", compiled.params).description)
    if width < len(fields):
        return None
    connection.create_function("sandbox_java_double", 1, _java_double_or_null, deterministic=True)
    names = ", ".join(f"c{i}" for i in range(width))
    arguments = ", ".join(_argument(i, field) for i, field in enumerate(fields))
    line_format = delimiter.join('"%s"' for _ in fields) + terminator
    sql = f"WITH r({names}) AS ({compiled.sql}) SELECT format(?, {arguments}) FROM r"
    return sql, [*compiled.params, line_format]


def write_results(compiled: Any, catalog: Catalog, connection: sqlite3.Connection, out: BinaryIO,
                  delimiter: str, terminator: str, offsets: array, position: int,
                  stop: Any = lambda: False) -> int:
    """Write every result row as CSV to `out`, appending each row's start offset; returns the end offset."""
    fast = line_query(compiled, catalog, connection, delimiter, terminator)
    if fast is None:
        return write_results_with_csv_module(compiled, connection, out, delimiter, terminator, offsets, position, stop)
    cursor = connection.execute(*fast)
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows or stop():
            break
        texts = [row[0] for row in rows]
        blob = "".join(texts).encode("utf-8")
        lengths = map(len, texts)
        ends = list(accumulate(lengths, initial=position))
        if ends[-1] - position != len(blob):  # non-ASCII text: count bytes, not characters
            ends = list(accumulate((len(text.encode("utf-8")) for text in texts), initial=position))
        offsets.extend(ends[:-1])
        position = ends[-1]
        out.write(blob)
    cursor.close()
    return position


class _OffsetSink:
    """A file-like target for csv.writer that records where each row starts (csv writes once per row)."""

    def __init__(self, out: BinaryIO, position: int, offsets: array) -> None:
        self._out = out
        self.position = position
        self._offsets = offsets

    def write(self, line: str) -> None:
        data = line.encode("utf-8")
        self._offsets.append(self.position)
        self.position += len(data)
        self._out.write(data)


def write_results_with_csv_module(compiled: Any, connection: sqlite3.Connection, out: BinaryIO, delimiter: str,
                           terminator: str, offsets: array, position: int, stop: Any) -> int:
    sink = _OffsetSink(out, position, offsets)
    writer = csv.writer(sink, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL)
    cursor = connection.execute(compiled.sql, compiled.params)
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows or stop():
            break
        writer.writerows(map(compiled.csv_values, rows))
    cursor.close()
    return sink.position


def csv_line(values: list[str], delimiter: str, terminator: str) -> bytes:
    """One CSV line, every value quoted (the header line of a results file)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL).writerow(values)
    return buffer.getvalue().encode("utf-8")
