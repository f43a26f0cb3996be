"""Raw Salesforce values (REST JSON or Bulk CSV text) to Arrow columns of the describe-derived type.

Empty strings become null, as Salesforce stores no empty text (and Bulk CSV cannot tell them apart).
Datetimes accept every form Salesforce writes (`...000+0000`, `...000Z`) and are kept in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import pyarrow as pa


def to_column(values: Sequence[object], arrow_type: pa.DataType) -> pa.Array:
    """An Arrow array of `arrow_type` from JSON-decoded values (None for null)."""
    if pa.types.is_string(arrow_type):
        return pa.array([None if v is None or v == "" else _text(v) for v in values], pa.string())
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        text = pa.array([None if v is None or v == "" else str(v) for v in values], pa.string())
        return text.cast(arrow_type)
    cleaned = [None if v == "" else v for v in values]
    if pa.types.is_boolean(arrow_type):
        return pa.array([_bool(v) for v in cleaned], pa.bool_())
    if pa.types.is_integer(arrow_type):
        try:
            return pa.array(cleaned, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else float(v) for v in cleaned], pa.float64()).cast(arrow_type)
    if pa.types.is_floating(arrow_type):
        return pa.array([None if v is None else float(v) for v in cleaned], arrow_type)
    return pa.array(cleaned, arrow_type)


def to_python(column: pa.Array | pa.ChunkedArray) -> list:
    """A column's values as Python objects, zoned timestamps as equal aware UTC datetimes.

    A zoned timestamp column goes through its UTC wall time: pyarrow's own zoned conversion imports pandas
    the first time (a second or more in a fresh run process).
    """
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz is not None and kind.unit != "ns":
        return [None if v is None else v.replace(tzinfo=UTC) for v in column.cast(pa.timestamp(kind.unit)).to_pylist()]
    return column.to_pylist()


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)
