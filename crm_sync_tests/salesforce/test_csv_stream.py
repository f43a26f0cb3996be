"""Bulk results CSV parsed as it streams: the same table as parsing the whole body, whatever the chunking."""

from __future__ import annotations

import pyarrow as pa
import pytest

from crm_sync.salesforce.bulk import csv_to_table
from crm_sync.salesforce.csv_stream import iter_tables
from crm_sync.salesforce.errors import SalesforceSchemaError
from crm_sync_tests.salesforce.test_describe_and_convert import CSV_PAGE, SCHEMA


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def _body(pairs: int) -> bytes:
    """The page's header and its two rows (the first holds a quoted newline) `pairs` times over."""
    header, rows = CSV_PAGE.split(b"\n", 1)
    return header + b"\n" + rows * pairs


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("page_rows", [1, 3, 1000])
def test_streamed_pages_equal_the_whole_body(chunk: int, page_rows: int) -> None:
    body = _body(25)
    tables = list(iter_tables(_chunks(body, chunk), SCHEMA, page_rows=page_rows, block_bytes=1024))
    assert [t.num_rows for t in tables] == [min(page_rows, 50 - i) for i in range(0, 50, page_rows)]
    assert all(t.schema == SCHEMA for t in tables)
    assert pa.concat_tables(tables).equals(csv_to_table(body, SCHEMA))


def test_nul_bytes_are_dropped_and_empty_bodies_give_no_table() -> None:
    body = CSV_PAGE.replace(b"Zed", b"Z\x00ed")
    (table,) = iter_tables(_chunks(body, 5), SCHEMA, page_rows=10)
    assert table.column("LastName").to_pylist()[1] == "Zed"
    assert list(iter_tables([b""], SCHEMA, page_rows=10)) == []
    assert list(iter_tables([CSV_PAGE.split(b"\n")[0] + b"\n"], SCHEMA, page_rows=10)) == []


def test_unselected_column_is_named() -> None:
    with pytest.raises(SalesforceSchemaError, match="'Other'"):
        list(iter_tables([b"Id,Other\n1,2\n"], SCHEMA, page_rows=10))
