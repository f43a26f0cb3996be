"""Arrow columns to Python values: zoned timestamps as aware UTC datetimes, equal to pyarrow's own."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.csv as pacsv

from crm_sync.salesforce.arrowconv import to_python


def test_a_zoned_timestamp_column_becomes_equal_aware_utc_datetimes() -> None:
    csv = b"Id,LastModifiedDate\n001A,2024-05-01T12:30:00.123Z\n001B,\n"
    types = {"LastModifiedDate": pa.timestamp("ms", tz="UTC")}
    table = pacsv.read_csv(io.BytesIO(csv), convert_options=pacsv.ConvertOptions(column_types=types))
    stamps = to_python(table.column("LastModifiedDate"))
    assert stamps == [datetime(2024, 5, 1, 12, 30, 0, 123000, tzinfo=UTC), None]
    assert stamps == table.column("LastModifiedDate").to_pylist()  # pyarrow's own conversion, same instants
    assert stamps[0].tzinfo is UTC
    assert to_python(table.column("Id")) == ["001A", "001B"]
