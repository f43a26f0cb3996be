"""Result rows -> Salesforce's JSON records and Bulk API 2.0 CSV values.

Everything that depends on field types is decided once per compiled query: a record builder is a
closure over (name, row index, converter) steps, so shaping a row is a loop of tuple look-ups.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from crm_sync.sandbox.catalog import Field

_JSON_BOOL = {0: False, 1: True}.get  # True == 1 and False == 0 as keys too
_CSV_BOOL = {0: "false", 1: "true"}
_DOUBLE_TYPES = {"double", "currency", "percent"}


def java_double(value: float) -> str:
    """A double as Salesforce (Java's Double.toString) prints it: `100.0`, `0.5`, `1.5E7`, `1.0E-4`."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(magnitude)
        if "e" in text:  # repr never uses exponents in this range, kept for safety
            text = format(Decimal(text), "f")
        if "." not in text:
            text += ".0"
        return ("-" if value < 0 else "") + text
    _, digits, exponent = Decimal(repr(magnitude)).normalize().as_tuple()
    figures = "".join(map(str, digits))
    scientific_exponent = len(figures) - 1 + int(exponent)
    mantissa = figures[0] + "." + (figures[1:] or "0")
    return f"{'-' if value < 0 else ''}{mantissa}E{scientific_exponent}"


def _csv_text(value: object) -> str:
    return "" if value is None else str(value)


def _csv_bool(value: object) -> str:
    return "" if value is None else _CSV_BOOL[value]


def _csv_int(value: object) -> str:
    return "" if value is None else str(int(value))


def _csv_double(value: object) -> str:
    return "" if value is None else java_double(value)


def _json_double(value: object) -> object:
    return None if value is None else float(value)


def _json_compound(value: object) -> object:
    return None if value is None else json.loads(str(value))


def json_converter(field: Field) -> Callable[[object], object] | None:
    """The conversion from the stored value to the JSON value, or None when it is the same."""
    if field.is_compound:
        return _json_compound
    if field.type == "boolean":
        return _JSON_BOOL
    if field.type in _DOUBLE_TYPES:
        return _json_double
    return None


def csv_converter(field: Field) -> Callable[[object], str]:
    """The conversion from the stored value to the Bulk API 2.0 CSV text."""
    if field.type == "boolean":
        return _csv_bool
    if field.type == "int":
        return _csv_int
    if field.type in _DOUBLE_TYPES:
        return _csv_double
    return _csv_text


@dataclass
class ObjectShape:
    """One object level of a record: its type, where its Id is in the row, and its entries in order.

    An entry is (name, row index, JSON converter, Field) for a field or (name, ObjectShape) for a parent.
    """

    type_name: str
    id_index: int
    entries: list[tuple]


RecordBuilder = Callable[[tuple], dict]


def record_builder(shape: ObjectShape, base_url: str,
                   convert_for: Callable[[Field], Callable[[object], object] | None] | None = None) -> RecordBuilder:
    """A function row -> Salesforce JSON record for `shape`, urls under `base_url`.

    `convert_for(field)` replaces the REST conversions (Bulk API 1.0 writes datetimes otherwise)."""
    type_name = shape.type_name
    prefix = f"{base_url}/sobjects/{type_name}/"
    id_index = shape.id_index
    steps: list[tuple] = []
    for entry in shape.entries:
        if isinstance(entry[1], ObjectShape):
            parent = entry[1]
            steps.append((entry[0], parent.id_index, None, record_builder(parent, base_url, convert_for)))
        else:
            convert = entry[2] if convert_for is None else convert_for(entry[3])
            steps.append((entry[0], entry[1], convert, None))

    def build(row: tuple) -> dict:
        record = {"attributes": {"type": type_name, "url": prefix + row[id_index]}}
        for name, index, convert, parent_build in steps:
            if parent_build is not None:
                record[name] = None if row[index] is None else parent_build(row)
            elif convert is None:
                record[name] = row[index]
            else:
                record[name] = convert(row[index])
        return record

    return build


def aggregate_builder(names: list[str]) -> RecordBuilder:
    """A function row -> AggregateResult record with the given expression names (expr0, aliases)."""
    indexed = list(enumerate(names))

    def build(row: tuple) -> dict:
        record: dict = {"attributes": {"type": "AggregateResult"}}
        for index, name in indexed:
            record[name] = row[index]
        return record

    return build
